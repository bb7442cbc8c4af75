"""The model catalog: what the system knows about each model it may call.

Data, not code: `shared/data/models.json` holds, per model id, its provider, prices (standard and
batch, with dated price changes), limits, the provider's announced shutdown date and recommended
replacement, and the page each figure was read from with the date it was read. The catalog's
`version` is stored on every usage record, so a cost can always be traced to its prices.

Lookups are exact: a model id is either in the catalog, or a dated snapshot of one that the
provider's own naming pattern recognises (`gpt-6.1-terra-2026-10-26`, `gemini-3.5-flash-001`).
There is no prefix matching: a typo such as `gpt-4o-minii` is unknown, not `gpt-4o`.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shared.settings import TaskSettings

CATALOG_FILE = Path(__file__).parent / "data" / "models.json"


class Prices(BaseModel):
    """USD per 1M tokens. A null batch price: the provider publishes none for this model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    cached_input: float = Field(ge=0)
    output: float = Field(ge=0)
    reasoning: float | None = Field(None, ge=0)  # None: billed at the output price
    batch_input: float | None = Field(None, ge=0)
    batch_cached_input: float | None = Field(None, ge=0)
    batch_output: float | None = Field(None, ge=0)

    @property
    def reasoning_rate(self) -> float:
        return self.output if self.reasoning is None else self.reasoning


class PriceChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    effective: date
    prices: Prices


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    prices: Prices | None  # None: the catalog records the model's lifecycle but no price
    price_changes: tuple[PriceChange, ...] = ()
    context_window: int | None = Field(None, gt=0)
    max_output_tokens: int | None = Field(None, gt=0)
    shutdown_date: date | None = None
    replacement: str | None = None
    source: str
    read_on: date
    note: str = ""

    def prices_on(self, day: date) -> Prices | None:
        """The prices in force on `day`: the latest change effective by then, else the base."""
        current = self.prices
        for change in sorted(self.price_changes, key=lambda c: c.effective):
            if change.effective <= day:
                current = change.prices
        return current


class Lifecycle(enum.StrEnum):
    ACTIVE = "active"  # no shutdown announced
    DEPRECATED = "deprecated"  # shutdown announced, still answering
    RETIRED = "retired"  # past its shutdown date: the provider answers 404
    UNKNOWN = "unknown"  # not in the catalog


@dataclass(frozen=True)
class ModelStatus:
    model: str  # as configured or requested
    provider: str
    lifecycle: Lifecycle
    catalog_id: str | None = None  # the catalog entry it resolved to
    shutdown_date: date | None = None
    replacement: str | None = None
    days_left: int | None = None

    def warning(self, warn_days: int) -> str | None:
        """A sentence for operators when this model needs attention, else None."""
        if self.lifecycle is Lifecycle.UNKNOWN:
            return f"{self.provider} model {self.model!r} is not in the model catalog"
        if self.lifecycle is Lifecycle.RETIRED:
            return (
                f"{self.provider} model {self.model!r} was shut down on {self.shutdown_date}"
                f"{self._instead()}"
            )
        if self.days_left is not None and self.days_left <= warn_days:
            return (
                f"{self.provider} model {self.model!r} shuts down on {self.shutdown_date} "
                f"({self.days_left} days){self._instead()}"
            )
        return None

    def _instead(self) -> str:
        return f"; replacement: {self.replacement}" if self.replacement else ""


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    currency: str
    unit: str
    notes: str = ""
    snapshot_patterns: dict[str, str] = Field(default_factory=dict)
    models: dict[str, ModelInfo]

    def resolve(self, model: str, provider: str | None = None) -> str | None:
        """The catalog id for `model`: itself, or the base of a dated snapshot of a known id."""
        entry = self.models.get(model)
        if entry is not None:
            return model if provider in (None, entry.provider) else None
        providers = [provider] if provider else list(self.snapshot_patterns)
        for name in providers:
            pattern = self.snapshot_patterns.get(name)
            match = re.fullmatch(pattern, model) if pattern else None
            base = match.group("base") if match else None
            if base and base in self.models and self.models[base].provider == name:
                return base
        return None

    def lookup(self, model: str, provider: str | None = None) -> ModelInfo | None:
        resolved = self.resolve(model, provider)
        return self.models[resolved] if resolved else None

    def status(self, provider: str, model: str, today: date) -> ModelStatus:
        resolved = self.resolve(model, provider)
        if resolved is None:
            return ModelStatus(model, provider, Lifecycle.UNKNOWN)
        info = self.models[resolved]
        if info.shutdown_date is None:
            return ModelStatus(model, provider, Lifecycle.ACTIVE, resolved)
        days_left = (info.shutdown_date - today).days
        lifecycle = Lifecycle.RETIRED if days_left <= 0 else Lifecycle.DEPRECATED
        return ModelStatus(
            model,
            provider,
            lifecycle,
            resolved,
            info.shutdown_date,
            info.replacement,
            max(days_left, 0),
        )

    def for_provider(self, provider: str) -> dict[str, ModelInfo]:
        return {name: info for name, info in self.models.items() if info.provider == provider}


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    return Catalog.model_validate(json.loads(CATALOG_FILE.read_text(encoding="utf-8")))


def known_name(settings: TaskSettings, provider: str, model: str) -> str | None:
    """The name the system knows `model` by on `provider`, or None when only a request vouches
    for it: its catalog id (a dated snapshot gives its base id), else the model itself when the
    operator configured it or allowed it (`AIEXEC_ALLOWED_MODELS`). A set the operator bounds,
    whatever clients send.
    """
    if not model:
        return None
    resolved = catalog().resolve(model, provider)
    if resolved is not None:
        return resolved
    if model in settings.configured_models(provider):
        return model
    return model if model in settings.extra_allowed_models(provider) else None
