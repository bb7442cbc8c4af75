"""Which configured (or used) models need attention: unknown, retired, or close to shutdown.

One answer from the catalog for `/health`, the weekly report's "Model lifecycle" section,
`aiexec models check` and `aiexec deploy`. No provider is called here (that is the CLI's extra
check), so `/health` stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from shared.catalog import Lifecycle, ModelStatus, catalog
from shared.settings import TaskSettings


@dataclass(frozen=True)
class ConfiguredModel:
    provider: str
    model: str
    where: str  # "default", "task type code", "fallback", "used this week", ...
    status: ModelStatus

    def warning(self, warn_days: int) -> str | None:
        return self.status.warning(warn_days)

    def row(self, warn_days: int) -> dict[str, Any]:
        status = self.status
        return {
            "provider": self.provider,
            "model": self.model,
            "where": self.where,
            "status": str(status.lifecycle),
            "shutdown_date": status.shutdown_date.isoformat() if status.shutdown_date else None,
            "days_left": status.days_left,
            "replacement": status.replacement,
            "warning": self.warning(warn_days),
        }


def today_utc() -> date:
    return datetime.now(UTC).date()


def configured_models(settings: TaskSettings, today: date | None = None) -> list[ConfiguredModel]:
    """Every model the configuration may call, provider by provider, with its lifecycle."""
    day = today or today_utc()
    table = catalog()
    return [
        ConfiguredModel(provider, model, where, table.status(provider, model, day))
        for provider in settings.providers
        for model, where in settings.configured_models(provider).items()
    ]


def used_models(
    pairs: Iterable[tuple[str, str]], today: date | None = None
) -> list[ConfiguredModel]:
    """The lifecycle of (provider, model) pairs seen in usage (a client's explicit models)."""
    day = today or today_utc()
    table = catalog()
    return [
        ConfiguredModel(provider, model, "used", table.status(provider, model, day))
        for provider, model in sorted(set(pairs))
    ]


def needs_attention(models: Iterable[ConfiguredModel], warn_days: int) -> list[ConfiguredModel]:
    return [m for m in models if m.warning(warn_days) is not None]


def warnings(settings: TaskSettings, today: date | None = None) -> list[str]:
    """One sentence per configured model that is unknown, retired or near its shutdown."""
    days = settings.model_shutdown_warn_days
    found = needs_attention(configured_models(settings, today), days)
    return [f"{m.warning(days)} (configured as {m.where})" for m in found]


def not_served(settings: TaskSettings, today: date | None = None) -> list[ConfiguredModel]:
    """Configured models retired or unknown to the catalog (what `aiexec deploy` refuses)."""
    return [
        m
        for m in configured_models(settings, today)
        if m.status.lifecycle in (Lifecycle.RETIRED, Lifecycle.UNKNOWN)
    ]
