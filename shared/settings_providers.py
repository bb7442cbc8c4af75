"""What every provider's settings section has, and the typed view the runtime reads of it.

Each provider declares its section in `shared/providers/<name>/settings.py`: a mixin of flat
fields named `<name>_...` (their environment names, `AIEXEC_OPENAI_MODEL`, `OPENAI_API_KEY`, ...,
are the contract) and `section()`, which returns a `ProviderSection`. Code that works for any
provider reads that typed view through `ProviderSections.provider_section(name)` (composed in
`shared/settings.py`) instead of building attribute names from strings.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings

TASK_TYPES = ("analytical", "creative", "code", "general")
# A provider's name as it appears in topics, settings and `provider:model` (AIEXEC_ALLOWED_MODELS).
PROVIDER_NAME_PATTERN = r"^[a-z][a-z0-9]{1,30}$"
# A model an operator allows by name (AIEXEC_ALLOWED_MODELS): printable, no spaces or commas.
ALLOWED_MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"


def parse_model_map(value: object) -> object:
    """`type=model,...`, a JSON object, or a dict's repr (how settings reach child processes)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("{"):
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = ast.literal_eval(text)
        return parsed
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("expected task_type=model pairs separated by commas")
    return {key.strip(): model.strip() for key, model in pairs}


def check_task_types(value: dict[str, str]) -> dict[str, str]:
    """A model map's keys are task types (a typo would silently never match)."""
    unknown = sorted(set(value) - set(TASK_TYPES))
    if unknown:
        raise ValueError(f"unknown task type(s) {unknown}; known: {', '.join(TASK_TYPES)}")
    return value


@dataclass(frozen=True)
class ProviderSection:
    """One provider's settings, the same shape for every provider: what name-free code reads
    (fallback, routing, /health, leases, the model checks)."""

    default_model: str
    models_by_type: Mapping[str, str]
    fallback_model: str | None
    fallback_models_by_type: Mapping[str, str]
    timeout_s: float
    configured: bool  # has somewhere to send calls (never says what: /health shows it)


def fallback_model_for(section: ProviderSection, task_type: str | None) -> str | None:
    """The model tried when the chosen one is not found; None: no such model."""
    if task_type and task_type in section.fallback_models_by_type:
        return section.fallback_models_by_type[task_type] or None
    return section.fallback_model or None


def configured_models(section: ProviderSection) -> dict[str, str]:
    """Every model a provider's section may call, each with where it is set."""
    found: dict[str, str] = {}
    if section.default_model:
        found.setdefault(section.default_model, "default")
    for task_type, model in sorted(section.models_by_type.items()):
        found.setdefault(model, f"task type {task_type}")
    if section.fallback_model:
        found.setdefault(section.fallback_model, "fallback")
    for task_type, model in sorted(section.fallback_models_by_type.items()):
        found.setdefault(model, f"fallback for {task_type}")
    return found


class ProviderSettings(BaseSettings):
    """Base of every provider's section; `PROVIDER` names it, `section()` is its typed view."""

    PROVIDER: ClassVar[str] = ""

    # --- providers ----------------------------------------------------------------------
    simulator_url: str | None = Field(
        None,
        description="Base URL of the provider simulator; providers without an explicit "
        "endpoint or key call it instead (local stack only).",
    )

    def section(self) -> ProviderSection:
        raise NotImplementedError(f"{type(self).__name__} declares no provider section")


@cache
def _section_classes(composed: type[ProviderSettings]) -> dict[str, type[ProviderSettings]]:
    """Provider name -> the section class mixed into `composed` that declares it."""
    return {
        part.PROVIDER: part
        for part in composed.__mro__
        if isinstance(part, type)
        and issubclass(part, ProviderSettings)
        and part.__dict__.get("PROVIDER")
    }


class ProviderSections(ProviderSettings):
    """Typed lookup over the provider sections a settings class is composed of."""

    def provider_section(self, provider: str) -> ProviderSection | None:
        """The section of `provider`; None when no such provider is configured in this build."""
        part = _section_classes(type(self)).get(provider)
        # Calls that provider's own `section()` (each section class defines one).
        return part.section(self) if part is not None else None

    def provider_names(self) -> list[str]:
        return sorted(_section_classes(type(self)))

    def default_model(self, provider: str) -> str | None:
        section = self.provider_section(provider)
        return section.default_model if section is not None else None

    def timeout_for(self, provider: str) -> float:
        section = self.provider_section(provider)
        return section.timeout_s if section is not None else 30.0

    def provider_configured(self, provider: str) -> bool:
        section = self.provider_section(provider)
        return section is not None and section.configured

    def models_by_type(self, provider: str) -> dict[str, str]:
        section = self.provider_section(provider)
        return dict(section.models_by_type) if section is not None else {}

    def fallback_model_for(self, provider: str, task_type: str | None) -> str | None:
        """The model tried on `provider` when the chosen one is not found; None: no such model."""
        section = self.provider_section(provider)
        return fallback_model_for(section, task_type) if section is not None else None

    def configured_models(self, provider: str) -> dict[str, str]:
        """Every model this configuration may call on `provider`, each with where it is set."""
        section = self.provider_section(provider)
        return configured_models(section) if section is not None else {}
