"""`aiexec deploy --project P --region R [--dry-run] [--providers a,b,c]`.

Builds the production definition from the settings (the environment, as everywhere), turns it
into an ordered plan and applies it; `--dry-run` prints the plan and touches nothing — no
credentials, no network — so it runs anywhere, including in tests.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from pydantic import ValidationError

from shared.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE

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
    deploy.set_defaults(func=cmd_deploy)


def _settings(args: argparse.Namespace) -> Any:
    from shared.settings import Settings

    overrides: dict[str, Any] = {"project_id": args.project}
    if args.providers:
        overrides["providers"] = args.providers
    return Settings(**overrides)


def _number(args: argparse.Namespace) -> str | None:
    """The project number: given, looked up (apply), or left as a placeholder (dry run)."""
    from shared.deploy.apply import project_number

    if args.dry_run or args.project_number:
        return str(args.project_number) if args.project_number else None
    emulators = [name for name in EMULATOR_VARIABLES if os.environ.get(name)]
    if emulators:
        raise UsageError(
            f"{', '.join(emulators)} is set (a local stack's settings?); deploy from a shell "
            "without them (e.g. after `aiexec down`)"
        )
    return project_number(args.project)


class UsageError(ValueError):
    pass


def cmd_deploy(args: argparse.Namespace) -> int:
    from infra.deploy import Target, build_production
    from shared.deploy.apply import Applier, DeployError
    from shared.deploy.plan import build_plan, render

    try:
        if not _PROJECT_ID.match(args.project):
            raise UsageError(f"{args.project!r} is not a project id")
        settings = _settings(args)
        production = build_production(settings, Target(args.project, args.region, _number(args)))
        if production.warnings and not args.dry_run:
            raise UsageError("; ".join(production.warnings))
    except (UsageError, ValidationError) as error:
        print(f"aiexec deploy: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DeployError as error:
        print(f"aiexec deploy: {error}", file=sys.stderr)
        return EXIT_FAILED
    steps = build_plan(production)
    if args.dry_run:
        sys.stdout.write(render(production, steps))
        return EXIT_OK
    try:
        Applier(production).apply(steps)
    except DeployError as error:
        print(f"aiexec deploy: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"deployed to {args.project} ({args.region}); smoke test: "
        f"python -m shared.deploy.smoke --project {args.project}"
    )
    return EXIT_OK
