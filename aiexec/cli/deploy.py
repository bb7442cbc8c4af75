"""`aiexec deploy --project P --region R [--dry-run] [--bootstrap-only] [--force]`.

Builds the production definition from the settings (the environment, as everywhere), runs the
preflight checks (`infra/deploy/preflight.py`: refusals such as a missing provider key secret
or an incomplete bootstrap, skipped with `--force`), pins every secret mounted as `latest` to
the version current now, then applies the deployment. `--bootstrap-only` (a project owner,
once) applies the bootstrap instead: APIs, the Firestore database, secrets, the custom role,
the build and runtime identities and who may act as them or read which secret — what the
deployer itself may not do. `--dry-run` prints the whole plan and touches nothing — no
credentials, no network — so it runs anywhere, including in tests.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from typing import Any

from pydantic import ValidationError

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from shared.errors import AIExecError

# A local stack's connection settings (exported by `.aiexec/local.env`) must never steer a
# deployment: the Google clients would talk to the emulators instead of the project.
EMULATOR_VARIABLES = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


def register(subparsers: Any) -> None:
    deploy = subparsers.add_parser(
        "deploy", help="deploy to a Google Cloud project (topology, IAM, functions, schedules)"
    )
    deploy.add_argument("--project", required=True, help="Google Cloud project id")
    deploy.add_argument("--region", required=True, help="region of functions and schedules")
    deploy.add_argument(
        "--providers", help="provider chain, comma-separated (default: AIEXEC_PROVIDERS)"
    )
    deploy.add_argument(
        "--project-number", help="shown in service agent names (looked up when applying)"
    )
    deploy.add_argument(
        "--dry-run", action="store_true", help="print the complete plan; change nothing"
    )
    deploy.add_argument(
        "--bootstrap-only",
        action="store_true",
        help="only the bootstrap: enable the APIs, create the Firestore database, the generated "
        "secrets, the build and runtime service accounts with their roles and secret access "
        "(as a project owner: once, and after the chain or the mounted secrets change)",
    )
    deploy.add_argument(
        "--force",
        action="store_true",
        help="skip preflight refusals (e.g. a missing provider key secret); steps still stop "
        "at the first failure",
    )
    deploy.set_defaults(func=cmd_deploy)


def _settings(args: argparse.Namespace) -> Any:
    from infra.settings import Settings

    overrides: dict[str, Any] = {"project_id": args.project}
    if args.providers:
        overrides["providers"] = args.providers
    return Settings(**overrides)


def _number(args: argparse.Namespace, run: Any) -> str | None:
    """The project number: given, looked up (apply), or left as a placeholder (dry run)."""
    from infra.deploy.apply import project_number

    if args.dry_run or args.project_number:
        return str(args.project_number) if args.project_number else None
    emulators = [name for name in EMULATOR_VARIABLES if os.environ.get(name)]
    if emulators:
        raise UsageError(
            f"{', '.join(emulators)} is set (a local stack's settings?); deploy from a shell "
            "without them (e.g. after `aiexec down`)"
        )
    return project_number(args.project, run)


class UsageError(AIExecError, ValueError):
    pass


def cmd_deploy(args: argparse.Namespace) -> int:
    from infra.deploy import Target, build_production
    from infra.deploy.apply import DeployError
    from infra.deploy.gcp.gcloud import GcloudError
    from infra.deploy.preflight import PreflightContext, refusals

    run = subprocess.run  # looked up now: tests replace it with a fake gcloud
    try:
        if not _PROJECT_ID.match(args.project):
            raise UsageError(f"{args.project!r} is not a project id")
        settings = _settings(args)
        target = Target(args.project, args.region, _number(args, run))
        production = build_production(settings, target)
        context = PreflightContext(
            production, online=not args.dry_run, run=run, bootstrap_only=args.bootstrap_only
        )
        refused = refusals(context)
    except (UsageError, ValidationError) as error:
        print(f"aiexec deploy: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (DeployError, GcloudError) as error:
        print(f"aiexec deploy: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.dry_run:
        _print_plan(production, tuple(refused), bootstrap_only=args.bootstrap_only)
        return EXIT_OK
    if refused and not args.force:
        for message in refused:
            print(f"aiexec deploy: refused: {message}", file=sys.stderr)
        print(
            "aiexec deploy: nothing was changed; fix the above, or pass --force to skip "
            "preflight refusals",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        _apply(production, run, bootstrap_only=args.bootstrap_only)
    except (DeployError, GcloudError) as error:
        print(f"aiexec deploy: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"bootstrapped {args.project}; next: make deploy PROJECT={args.project} "
        f"REGION={args.region}"
        if args.bootstrap_only
        else f"deployed to {args.project} ({args.region}); smoke test: "
        f"python -m infra.deploy.smoke --project {args.project}"
    )
    return EXIT_OK


def _print_plan(production: Any, refused: tuple[str, ...], *, bootstrap_only: bool) -> None:
    from infra.deploy.plan import full_plan
    from infra.deploy.plan.bootstrap import bootstrap_steps
    from infra.deploy.plan.render import render

    steps = bootstrap_steps(production) if bootstrap_only else full_plan(production)
    sys.stdout.write(render(production, steps, refused))


def _apply(production: Any, run: Any, *, bootstrap_only: bool) -> None:
    """`bootstrap_only`: the bootstrap. Otherwise (the bootstrap checked by the preflight):
    every secret mounted as `latest` pinned to its current version number, then the plan."""
    from infra.deploy.apply import Applier
    from infra.deploy.gcp.secret_manager import resolve_secret_versions
    from infra.deploy.plan.bootstrap import bootstrap_steps
    from infra.deploy.plan.deployment import build_plan

    if bootstrap_only:
        Applier(production, run=run).apply(bootstrap_steps(production))
        return
    project = production.target.project
    versions = resolve_secret_versions(run, project, production.unpinned_secrets)
    pinned = production.with_secret_versions(versions)
    Applier(pinned, run=run).apply(build_plan(pinned))
