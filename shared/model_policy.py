"""Which models a request may name: `model: {provider: name}` is checked against an allowlist.

A name is allowed on a provider when it is, for that provider:

- a model of the catalog (`shared/data/models.json`) that is not retired today, or a dated
  snapshot of one by the provider's own naming pattern (`gpt-6.1-terra-2026-10-26`,
  `gemini-3.5-flash-001`);
- a model this deployment's configuration already calls (default, per task type, fallback);
- listed in `AIEXEC_ALLOWED_MODELS` (`provider:model,...`): the operator's private or
  fine-tuned models.

Anything else — an unknown id or a typo, a resource path (`projects/…/endpoints/…`,
`publishers/…`) that the SDK would pass through to another resource, control characters, a name
the schema already bounds (1-128 characters) — is refused at ingest, before a task exists, with
400 `model_not_allowed` naming the field (`model.vertex`); over Pub/Sub the message is recorded
as a `rejected` task like any invalid request. The message never echoes the name sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from shared.catalog import Lifecycle, catalog
from shared.model_lifecycle import today_utc
from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem
from shared.settings import TaskSettings

MODEL_NOT_ALLOWED = "model_not_allowed"
_LISTED_IN_MESSAGE = 20  # names an error message lists at most (the OpenAPI document has all)


def allowed_models(settings: TaskSettings, provider: str, today: date | None = None) -> list[str]:
    """The exact names allowed on `provider` (sorted); dated snapshots of catalog models besides
    (`snapshot_pattern`)."""
    day = today or today_utc()
    table = catalog()
    names = {
        name
        for name in table.for_provider(provider)
        if table.status(provider, name, day).lifecycle is not Lifecycle.RETIRED
    }
    names.update(settings.configured_models(provider))
    names.update(settings.extra_allowed_models(provider))
    return sorted(names)


def snapshot_pattern(provider: str, today: date | None = None) -> str | None:
    """A regular expression matching exactly the dated snapshots of `provider`'s current catalog
    models (JSON Schema `pattern`, ECMA-262 compatible), or None when the provider has none."""
    table = catalog()
    pattern = table.snapshot_patterns.get(provider)
    if not pattern or "(?P<base>.+)" not in pattern:
        return None
    day = today or today_utc()
    bases = sorted(
        name
        for name in table.for_provider(provider)
        if table.status(provider, name, day).lifecycle is not Lifecycle.RETIRED
    )
    if not bases:
        return None
    alternatives = "|".join(_escape(name) for name in bases)
    return pattern.replace("(?P<base>.+)", f"({alternatives})")


def is_allowed(settings: TaskSettings, provider: str, name: str, today: date | None = None) -> bool:
    day = today or today_utc()
    if name in settings.configured_models(provider) or name in settings.extra_allowed_models(
        provider
    ):
        return True
    status = catalog().status(provider, name, day)
    return status.lifecycle not in (Lifecycle.UNKNOWN, Lifecycle.RETIRED)


def check_models(
    settings: TaskSettings, requested: Mapping[str, str] | None, today: date | None = None
) -> None:
    """Raise RequestProblemError (400 `model_not_allowed`, field `model.<provider>`) for the
    first requested model that is not allowed. Providers that are not configured are left to
    the chain check (`model: unknown provider(s) ...`)."""
    for provider, name in (requested or {}).items():
        if provider not in settings.providers or is_allowed(settings, provider, name, today):
            continue
        names = allowed_models(settings, provider, today)
        listed = ", ".join(names[:_LISTED_IN_MESSAGE])
        listed += ", ..." if len(names) > _LISTED_IN_MESSAGE else ""
        snapshots = " or a dated snapshot of a catalog model" if snapshot_pattern(provider) else ""
        raise RequestProblemError(
            FieldProblem(
                code=MODEL_NOT_ALLOWED,
                message=f"model.{provider}: not a model this service calls on {provider}; use "
                f"one of {listed or 'none'}{snapshots} (GET /openapi.json lists them)",
                field=f"model.{provider}",
            )
        )


def _escape(name: str) -> str:
    """A catalog id as a regex literal (ids are letters, digits, `.`, `-` and `_`)."""
    return "".join(f"\\{char}" if char in r".^$*+?()[]{}|\/" else char for char in name)
