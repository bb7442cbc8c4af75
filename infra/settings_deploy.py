"""The deploy section: what `aiexec deploy` sets up (schedules, secrets, instance caps and
concurrency). Tooling only: no deployed function's settings include it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from shared.settings_providers import parse_model_map


class DeploySettings(BaseSettings):
    # --- deployment (`aiexec deploy`) ---------------------------------------------------
    sweep_schedule: str = Field(
        "*/5 * * * *", description="Cron of the sweeper trigger (Cloud Scheduler)."
    )
    provider_key_secrets: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Secret Manager secret holding a provider's API key "
        "(`provider=secret[:version],...`), instead of the one its spec names "
        "(`aiexec-<provider>-api-key` for a provider with a key); `provider=` (empty): no key. "
        "Deploy mounts it into that provider's worker only.",
    )
    worker_max_instances: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description="Instance cap of each provider's worker (`provider=N,...`): caps the "
        "concurrent calls, so the spend, on a provider. Unlisted: the default below.",
    )
    worker_default_max_instances: int = Field(
        10, ge=1, le=1000, description="Instance cap of a worker not listed above."
    )
    worker_concurrency: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description="Requests one worker instance serves at once (`provider=N,...`).",
    )
    worker_default_concurrency: int = Field(
        8, ge=1, le=1000, description="Concurrency of a worker not listed above."
    )
    report_webhook_secret: str | None = Field(
        None,
        description="Secret Manager secret the deployed report function reads "
        "AIEXEC_REPORT_WEBHOOK_URL from.",
    )
    smtp_password_secret: str | None = Field(
        None,
        description="Secret Manager secret the deployed report function reads "
        "AIEXEC_SMTP_PASSWORD from.",
    )
    report_schedule: str = Field(
        "0 8 * * 1", description="Cron of the weekly report trigger (Cloud Scheduler)."
    )
    ingest_concurrency: int = Field(
        40,
        ge=1,
        le=1000,
        description="Requests one ingest (HTTP) instance serves at once: deploy sets the "
        "function's concurrency and its THREADS to this, the local stack starts ingest with "
        "THREADS=this.",
    )

    @field_validator(
        "provider_key_secrets", "worker_max_instances", "worker_concurrency", mode="before"
    )
    @classmethod
    def _parse_maps(cls, value: object) -> object:
        return parse_model_map(value)
