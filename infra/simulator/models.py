"""Which models the simulator serves: the model catalog, as of today, plus run-time overrides.

A model is served when the catalog knows it (its exact id, or a dated snapshot of one) and its
shutdown date has not come (`shutdown_date <= today` means retired: the provider answers 404).
The control API (`aiexec sim model ...`) overrides one model at a time: give it a shutdown date
(or none, which also makes a model the catalog does not know servable), or retire it at once.
`reset` forgets the overrides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from infra.simulator.faults import PROVIDERS, FaultSpecError
from shared.catalog import Catalog, catalog


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Override:
    shutdown_date: date | None = None
    retired: bool = False  # answers 404 whatever the date
    created: int = 0  # epoch seconds when the override was made (OpenAI's `created`)


@dataclass(frozen=True)
class ModelView:
    """What the simulator says about one model id on one provider."""

    provider: str
    model: str  # as asked for
    base: str | None  # the catalog id it resolves to (None: unknown to the catalog)
    served: bool
    shutdown_date: date | None
    source: str  # "catalog", "override" or "unknown"
    created: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "catalog_id": self.base,
            "served": self.served,
            "shutdown_date": self.shutdown_date.isoformat() if self.shutdown_date else None,
            "source": self.source,
        }


def parse_model_spec(spec: dict[str, Any]) -> tuple[str, date | None]:
    """A control-API body -> ("shutdown", date|None) | ("retire", None) | ("reset", None)."""
    allowed = {"shutdown_date", "retired", "reset"}
    unknown = set(spec) - allowed
    if unknown:
        raise FaultSpecError(f"unknown model parameter(s): {', '.join(sorted(unknown))}")
    given = [key for key in allowed if key in spec]
    if len(given) != 1:
        raise FaultSpecError('give exactly one of "shutdown_date", "retired": true, "reset": true')
    key = given[0]
    if key in ("retired", "reset"):
        if spec[key] is not True:
            raise FaultSpecError(f'"{key}" must be true')
        return ("retire" if key == "retired" else "reset"), None
    value = spec[key]
    if value is None:
        return "shutdown", None
    try:
        return "shutdown", date.fromisoformat(str(value))
    except ValueError as exc:
        raise FaultSpecError(f"shutdown_date must be YYYY-MM-DD or null; got {value!r}") from exc


class ModelRegistry:
    """Thread-safe view of the served models; `today` is injectable for tests."""

    def __init__(
        self, today: Callable[[], date] = utc_today, source: Callable[[], Catalog] = catalog
    ) -> None:
        self._today = today
        self._catalog = source
        self._lock = threading.Lock()
        self._overrides: dict[tuple[str, str], Override] = {}

    def reset(self) -> None:
        with self._lock:
            self._overrides.clear()

    def change(self, provider: str, model: str, spec: dict[str, Any]) -> ModelView:
        """Apply a control-API body to one model; returns how the model now stands."""
        _check(provider)
        if not model or len(model) > 256:
            raise FaultSpecError("the model id must be 1 to 256 characters")
        action, shutdown = parse_model_spec(spec)
        if action == "retire":
            shutdown = self._today()  # retired now: shut down as of today
        key = (provider, model)
        with self._lock:
            if action == "reset":
                self._overrides.pop(key, None)
            else:
                self._overrides[key] = Override(
                    shutdown_date=shutdown, retired=action == "retire", created=int(time.time())
                )
        return self.view(provider, model)

    def view(self, provider: str, model: str) -> ModelView:
        _check(provider)
        today = self._today()
        base = self._catalog().resolve(model, provider)
        with self._lock:
            override = self._overrides.get((provider, model))
            if override is None and base is not None:
                override = self._overrides.get((provider, base))  # a snapshot follows its base
        if override is not None:
            served = not override.retired and not _past(override.shutdown_date, today)
            return ModelView(
                provider,
                model,
                base,
                served,
                override.shutdown_date,
                "override",
                override.created,
            )
        if base is None:
            return ModelView(provider, model, None, False, None, "unknown", 0)
        info = self._catalog().models[base]
        served = not _past(info.shutdown_date, today)
        created = int(datetime.combine(info.read_on, datetime.min.time(), UTC).timestamp())
        return ModelView(provider, model, base, served, info.shutdown_date, "catalog", created)

    def served(self, provider: str, model: str) -> bool:
        return self.view(provider, model).served

    def listing(self, provider: str) -> list[ModelView]:
        """Every model `provider` serves today, as its own model list would show them."""
        _check(provider)
        with self._lock:
            added = [model for (name, model) in self._overrides if name == provider]
        names = sorted(set(self._catalog().for_provider(provider)) | set(added))
        views = (self.view(provider, name) for name in names)
        return [view for view in views if view.served]

    def overrides(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self._lock:
            keys = list(self._overrides)
        result: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PROVIDERS}
        for provider, model in sorted(keys):
            result[provider][model] = self.view(provider, model).as_dict()
        return result


def _past(shutdown: date | None, today: date) -> bool:
    return shutdown is not None and shutdown <= today


def _check(provider: str) -> None:
    if provider not in PROVIDERS:
        raise FaultSpecError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
