"""Model settings that span providers: which extra models a request may name, and when a
configured model's shutdown date is near. Each provider's own models (default, per task type,
fallback) are in its section, `shared/providers/<name>/settings.py`; the README's "Models"
section says which and why."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from shared.settings_providers import ALLOWED_MODEL_PATTERN, PROVIDER_NAME_PATTERN


class ModelSettings(BaseSettings):
    # --- models ---------------------------------------------------------------------------
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

    @field_validator("allowed_models", mode="before")
    @classmethod
    def _split_allowed(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
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

    def extra_allowed_models(self, provider: str) -> list[str]:
        """The models `AIEXEC_ALLOWED_MODELS` allows on `provider` (shared/model_policy.py)."""
        prefix = f"{provider}:"
        return [e.removeprefix(prefix) for e in self.allowed_models if e.startswith(prefix)]
