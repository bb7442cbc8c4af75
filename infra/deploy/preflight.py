"""Preflight checks of `aiexec deploy`: reasons to refuse a deployment before it changes anything.

Each check takes the context (the production definition, whether it may call Google Cloud, a
gcloud runner) and returns refusal messages — empty when it has nothing against the deploy.
A real deploy stops with them unless `--force` ("skip preflight refusals"); a dry run prints
them at the top of the plan. Add a check by appending it to `CHECKS` (or passing `checks=`).
Checks that need the network only run when `ctx.online` (never in a dry run).

A deploy does not apply the bootstrap (the deployer may not create identities or grant access
to secrets): `bootstrap_applied` checks, read-only, what the deployment builds on, and refuses
with `aiexec deploy --bootstrap-only` (a project owner's command) when something is missing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from infra.deploy.gcp.firestore import database_describe_args
from infra.deploy.gcp.gcloud import GcloudError, Runner, gcloud
from infra.deploy.gcp.project_iam import service_account_exists
from infra.deploy.gcp.secret_manager import latest_secret_version, secret_members, secret_refusal
from infra.deploy.gcp.services import enabled_services
from infra.deploy.model import Production


@dataclass(frozen=True)
class PreflightContext:
    prod: Production
    online: bool  # False in a dry run: no credentials, no network
    run: Runner = field(default=subprocess.run)
    bootstrap_only: bool = False  # applying the bootstrap: it cannot be checked yet


PreflightCheck = Callable[[PreflightContext], list[str]]


def unknown_providers(ctx: PreflightContext) -> list[str]:
    """The definition's own warnings (a provider without an adapter, a lease too long)."""
    return list(ctx.prod.warnings)


def missing_secrets(ctx: PreflightContext) -> list[str]:
    """Every secret only a person can provide (a provider's API key) must exist with an enabled
    version; the refusal names the `gcloud secrets create` command."""
    if not ctx.online:
        return []
    project = ctx.prod.target.project
    refusals = []
    for secret in ctx.prod.bootstrap.required_secrets:
        lookup = latest_secret_version(ctx.run, project, secret.name)
        if lookup.version is None:
            refusals.append(secret_refusal(lookup, secret, project))
    return refusals


def retired_models(ctx: PreflightContext) -> list[str]:
    """A configured model that is retired (the provider answers 404) or unknown to the model
    catalog would fail or fall back on every task; from the catalog, so dry runs see it too."""
    from shared.model_lifecycle import not_served

    days = ctx.prod.settings.model_shutdown_warn_days
    return [
        f"{model.warning(days)} (configured as {model.where}); `aiexec models check` lists them"
        for model in not_served(ctx.prod.settings)
    ]


def bootstrap_applied(ctx: PreflightContext) -> list[str]:
    """What the deployment builds on, read the way the deployer may read it: the APIs, the
    database, the generated secrets, every runtime identity (the deployer can read exactly
    those it may act as) and each secret's reader."""
    if not ctx.online or ctx.bootstrap_only:
        return []
    prod, run = ctx.prod, ctx.run
    project, boot = prod.target.project, prod.bootstrap
    fix = (
        f"a project owner runs `aiexec deploy --project {project} --region "
        f"{prod.target.region} --bootstrap-only` (README, Deploy: once per project, and after "
        "the chain or the mounted secrets change)"
    )
    missing = []
    try:
        enabled = enabled_services(run, project)
    except GcloudError as error:
        return [f"cannot check the bootstrap: {error}; {fix}"]
    off = [api.name for api in boot.apis if api.name not in enabled]
    if off:
        missing.append(f"APIs not enabled: {', '.join(off)}")
    described = gcloud(run, project, *database_describe_args(boot.database, "type"))
    if described.returncode != 0:
        missing.append(f"the Firestore database {boot.database.name} cannot be read")
    for secret in boot.generated_secrets:
        if latest_secret_version(run, project, secret.name).version is None:
            missing.append(f"secret {secret.name} ({secret.env} of {', '.join(secret.functions)})")
    for account in prod.service_accounts:
        if not service_account_exists(run, project, account.email):
            missing.append(f"runtime identity {account.email} (or the deployer may not act as it)")
    for b in prod.bindings:
        if b.kind != "secret":
            continue
        holders = secret_members(run, project, b.resource, b.role)
        if holders is not None and b.member not in holders:
            missing.append(f"{b.member} may not read secret {b.resource}")
    return [f"the bootstrap is incomplete: {what}; {fix}" for what in missing]


CHECKS: list[PreflightCheck] = [
    unknown_providers,
    retired_models,
    missing_secrets,
    bootstrap_applied,
]


def refusals(ctx: PreflightContext, checks: Sequence[PreflightCheck] | None = None) -> list[str]:
    """Every refusal of every check, in order."""
    return [message for check in (CHECKS if checks is None else checks) for message in check(ctx)]
