"""Vertex AI's settings section: region, project, endpoint, timeout and models (mixed into the
settings object of the services that call or name Vertex AI models; see
`shared/settings_providers.py`).

Vertex AI authenticates with Application Default Credentials (the worker's own identity), so
there is no key here. Model defaults come from the model catalog (`shared/data/models.json`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shared.settings_providers import (
    ProviderSection,
    ProviderSettings,
    check_task_types,
    parse_model_map,
)


class VertexSettings(ProviderSettings):
    PROVIDER: ClassVar[str] = "vertex"

    # --- providers ----------------------------------------------------------------------
    vertex_location: str = Field("us-central1", description="Vertex AI region.")
    vertex_project: str | None = Field(
        None, description="Project for Vertex AI calls; default: project_id."
    )
    vertex_base_url: str | None = Field(
        None, description="Override of the Vertex AI endpoint (the simulator locally)."
    )
    vertex_timeout_s: float = Field(30.0, gt=0, description="Vertex AI call timeout.")

    # --- models ---------------------------------------------------------------------------
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

    @field_validator("vertex_models_by_type", "vertex_fallback_models_by_type", mode="before")
    @classmethod
    def _parse_vertex_maps(cls, value: object) -> object:
        return parse_model_map(value)

    @field_validator("vertex_models_by_type", "vertex_fallback_models_by_type")
    @classmethod
    def _check_vertex_maps(cls, value: dict[str, str]) -> dict[str, str]:
        return check_task_types(value)

    def section(self) -> ProviderSection:
        return ProviderSection(
            default_model=self.vertex_model,
            timeout_s=self.vertex_timeout_s,
            # Application Default Credentials, resolved at call time: always somewhere to go.
            configured=True,
            models_by_type=self.vertex_models_by_type,
            fallback_model=self.vertex_fallback_model,
            fallback_models_by_type=self.vertex_fallback_models_by_type,
        )
