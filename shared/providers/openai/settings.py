"""OpenAI's settings section: key, endpoint, timeout and models (mixed into the settings object
of the services that call or name OpenAI models; see `shared/settings_providers.py`).

Model defaults come from the model catalog (`shared/data/models.json`; sources and dates there).
A fallback model is tried on OpenAI when the chosen one answers "model not found".
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


class OpenAISettings(ProviderSettings):
    PROVIDER: ClassVar[str] = "openai"

    # --- providers ----------------------------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY"), description="OpenAI API key."
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint (…/v1); default: api.openai.com.",
    )
    openai_timeout_s: float = Field(30.0, gt=0, description="OpenAI call timeout.")

    # --- models ---------------------------------------------------------------------------
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

    @field_validator("openai_models_by_type", "openai_fallback_models_by_type", mode="before")
    @classmethod
    def _parse_openai_maps(cls, value: object) -> object:
        return parse_model_map(value)

    @field_validator("openai_models_by_type", "openai_fallback_models_by_type")
    @classmethod
    def _check_openai_maps(cls, value: dict[str, str]) -> dict[str, str]:
        return check_task_types(value)

    def section(self) -> ProviderSection:
        return ProviderSection(
            default_model=self.openai_model,
            timeout_s=self.openai_timeout_s,
            # A key, an explicit endpoint, or the local simulator.
            configured=bool(self.openai_api_key or self.openai_base_url or self.simulator_url),
            models_by_type=self.openai_models_by_type,
            fallback_model=self.openai_fallback_model,
            fallback_models_by_type=self.openai_fallback_models_by_type,
        )
