"""Which models the system calls: part of the one settings object (`shared/settings.py`).

Defaults chosen from the model catalog (`shared/data/models.json`: sources and dates there); the
README's "Models" section says which and why. A `*_fallback_model*` is tried on the same provider
when the chosen model answers "model not found" (retired or withdrawn), before handing over.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

PROVIDER_NAME_PATTERN = r"^[a-z][a-z0-9]{1,30}$"
# A model an operator allows by name (AIEXEC_ALLOWED_MODELS): printable, no spaces or commas.
ALLOWED_MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"
TASK_TYPES = ("analytical", "creative", "code", "general")


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


class ModelSettings(BaseSettings):
    openai_model: str = Field("gpt-6.1-terra", description="Default OpenAI model.")
    openai_models_by_type: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {
            "analytical": "gpt-6.2-sol",
            "creative": "gpt-6.1-terra",
            "code": "gpt-6.2-sol",
            "general": "gpt-6.1-terra",
        },
        description="OpenAI model per task_type (`type=model,...` or JSON); a type not listed "
        "uses AIEXEC_OPENAI_MODEL; a request's explicit `model` wins.",
    )
    openai_fallback_model: str | None = Field(
        "gpt-6-luna",
        description="OpenAI model tried when the chosen one is not found (empty: none).",
    )
    openai_fallback_models_by_type: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"analytical": "gpt-6.1-sol", "code": "gpt-6.1-sol"},
        description="OpenAI fallback model per task_type; a type not listed uses "
        "AIEXEC_OPENAI_FALLBACK_MODEL.",
    )

    vertex_model: str = Field("gemini-3.8-flash", description="Default Vertex AI model.")
    vertex_models_by_type: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {
            "analytical": "gemini-4-argon",
            "creative": "gemini-3.8-flash",
            "code": "gemini-4-argon",
            "general": "gemini-3.8-flash",
        },
        description="Vertex AI model per task_type (`type=model,...` or JSON); a type not "
        "listed uses AIEXEC_VERTEX_MODEL; a request's explicit `model` wins.",
    )
    vertex_fallback_model: str | None = Field(
        "gemini-3.5-flash",
        description="Vertex AI model tried when the chosen one is not found (empty: none).",
    )
    vertex_fallback_models_by_type: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"analytical": "gemini-3.8-flash", "code": "gemini-3.8-flash"},
        description="Vertex AI fallback model per task_type; a type not listed uses "
        "AIEXEC_VERTEX_FALLBACK_MODEL.",
    )
    model_shutdown_warn_days: int = Field(
        60,
        ge=0,
        description="A configured model this close to its shutdown date is reported by "
        "`aiexec models check` (non-zero exit), `/health` and the weekly report.",
    )
    allowed_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Models a request may name besides the model catalog's current ones and "
        "the configured ones (`provider:model,...`, e.g. private or fine-tuned models); the "
        "list is public (GET /openapi.json).",
    )

    @field_validator(
        "openai_models_by_type",
        "vertex_models_by_type",
        "openai_fallback_models_by_type",
        "vertex_fallback_models_by_type",
        mode="before",
    )
    @classmethod
    def _parse_model_maps(cls, value: object) -> object:
        return parse_model_map(value)

    @field_validator("allowed_models", mode="before")
    @classmethod
    def _split_allowed(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator(
        "openai_models_by_type",
        "vertex_models_by_type",
        "openai_fallback_models_by_type",
        "vertex_fallback_models_by_type",
    )
    @classmethod
    def _check_model_map(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(TASK_TYPES))
        if unknown:
            raise ValueError(f"unknown task type(s) {unknown}; known: {', '.join(TASK_TYPES)}")
        return value

    @field_validator("allowed_models")
    @classmethod
    def _check_allowed_models(cls, value: list[str]) -> list[str]:
        for entry in value:
            provider, _, model = entry.partition(":")
            if not re.fullmatch(PROVIDER_NAME_PATTERN, provider) or not re.fullmatch(
                ALLOWED_MODEL_PATTERN, model
            ):
                raise ValueError(
                    f"{entry[:80]!r}: expected provider:model (a provider name, then 1-128 "
                    "letters, digits and . _ - : / @ +, starting with a letter or digit)"
                )
        return value

    def models_by_type(self, provider: str) -> dict[str, str]:
        value = getattr(self, f"{provider}_models_by_type", None)
        return dict(value) if isinstance(value, dict) else {}

    def fallback_model_for(self, provider: str, task_type: str | None) -> str | None:
        """The model tried on `provider` when the chosen one is not found; None: no such model."""
        by_type = getattr(self, f"{provider}_fallback_models_by_type", None) or {}
        if task_type and task_type in by_type:
            return str(by_type[task_type]) or None
        default = getattr(self, f"{provider}_fallback_model", None)
        return default or None

    def configured_models(self, provider: str) -> dict[str, str]:
        """Every model this configuration may call on `provider`, each with where it is set."""
        found: dict[str, str] = {}
        default = getattr(self, f"{provider}_model", None)
        if default:
            found.setdefault(default, "default")
        for task_type, model in sorted(self.models_by_type(provider).items()):
            found.setdefault(model, f"task type {task_type}")
        fallback = getattr(self, f"{provider}_fallback_model", None)
        if fallback:
            found.setdefault(fallback, "fallback")
        by_type = getattr(self, f"{provider}_fallback_models_by_type", None) or {}
        for task_type, model in sorted(by_type.items()):
            found.setdefault(model, f"fallback for {task_type}")
        return found

    def extra_allowed_models(self, provider: str) -> list[str]:
        """The models `AIEXEC_ALLOWED_MODELS` allows on `provider` (shared/model_policy.py)."""
        prefix = f"{provider}:"
        return [e.removeprefix(prefix) for e in self.allowed_models if e.startswith(prefix)]
