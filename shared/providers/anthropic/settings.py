"""Anthropic's settings section, mixed into the one settings object (`shared/settings.py`).

Defaults chosen from the model catalog (`shared/data/models.json`, read 2026-11-30 from
Anthropic's model pages): Claude Sonnet 5.5 for most work, Claude Opus 5.5 for analysis and
code; the fallbacks are the previous generation (Sonnet 5, Opus 5: legacy, no retirement date).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.settings_providers import (
    ProviderSection,
    ProviderSettings,
    check_task_types,
    parse_model_map,
)


class AnthropicSettings(ProviderSettings):
    PROVIDER: ClassVar[str] = "anthropic"

    # --- providers ----------------------------------------------------------------------
    anthropic_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ANTHROPIC_API_KEY"),
        description="Anthropic API key (Claude Messages API).",
    )
    anthropic_base_url: str | None = Field(
        None,
        description="Messages API endpoint (without /v1); default: https://api.anthropic.com.",
    )
    anthropic_timeout_s: float = Field(30.0, gt=0, description="Anthropic call timeout.")

    # --- models ---------------------------------------------------------------------------
    anthropic_model: str = Field("claude-sonnet-5-5", description="Default Anthropic model.")
    anthropic_models_by_type: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {
            "analytical": "claude-opus-5-5",
            "creative": "claude-sonnet-5-5",
            "code": "claude-opus-5-5",
            "general": "claude-sonnet-5-5",
        },
        description="Anthropic model per task_type (`type=model,...` or JSON); a type not "
        "listed uses AIEXEC_ANTHROPIC_MODEL; a request's explicit `model` wins.",
    )
    anthropic_fallback_model: str | None = Field(
        "claude-sonnet-5",
        description="Anthropic model tried when the chosen one is not found (empty: none).",
    )
    anthropic_fallback_models_by_type: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"analytical": "claude-opus-5", "code": "claude-opus-5"},
        description="Anthropic fallback model per task_type; a type not listed uses "
        "AIEXEC_ANTHROPIC_FALLBACK_MODEL.",
    )

    @field_validator("anthropic_models_by_type", "anthropic_fallback_models_by_type", mode="before")
    @classmethod
    def _parse_anthropic_maps(cls, value: object) -> object:
        return parse_model_map(value)

    @field_validator("anthropic_models_by_type", "anthropic_fallback_models_by_type")
    @classmethod
    def _check_anthropic_maps(cls, value: dict[str, str]) -> dict[str, str]:
        return check_task_types(value)

    def section(self) -> ProviderSection:
        return ProviderSection(
            default_model=self.anthropic_model,
            models_by_type=self.anthropic_models_by_type,
            fallback_model=self.anthropic_fallback_model,
            fallback_models_by_type=self.anthropic_fallback_models_by_type,
            timeout_s=self.anthropic_timeout_s,
            # A key, an explicit endpoint, or the local simulator.
            configured=bool(
                self.anthropic_api_key or self.anthropic_base_url or self.simulator_url
            ),
        )
