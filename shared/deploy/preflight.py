"""Preflight checks of `aiexec deploy`: reasons to refuse a deployment before it changes anything.

Each check takes the context (the production definition, whether it may call Google Cloud, a
gcloud runner) and returns refusal messages — empty when it has nothing against the deploy.
A real deploy stops with them unless `--force` ("skip preflight refusals"); a dry run prints
them at the top of the plan. Add a check by appending it to `CHECKS` (or passing `checks=`).
Checks that need the network only run when `ctx.online` (never in a dry run).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from infra.deploy.model import Production
from shared.deploy import gcp


@dataclass(frozen=True)
class PreflightContext:
    prod: Production
    online: bool  # False in a dry run: no credentials, no network
    run: gcp.Runner = field(default=subprocess.run)


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
        lookup = gcp.latest_secret_version(ctx.run, project, secret.name)
        if lookup.version is None:
            refusals.append(gcp.secret_refusal(lookup, secret, project))
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


CHECKS: list[PreflightCheck] = [unknown_providers, retired_models, missing_secrets]


def refusals(ctx: PreflightContext, checks: Sequence[PreflightCheck] | None = None) -> list[str]:
    """Every refusal of every check, in order."""
    return [message for check in (CHECKS if checks is None else checks) for message in check(ctx)]
