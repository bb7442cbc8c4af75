"""Settings of the production deployment (`aiexec deploy`), part of the one settings object."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, NoDecode


class DeploySettings(BaseSettings):
    # --- deployment (`aiexec deploy`) ---------------------------------------------------
    api_keys_required: bool = Field(
        False,
        description="Ingest requires an API key; only then is the deployed ingest function "
        "public. Without it ingest stays IAM-only (callers need roles/run.invoker).",
    )
    sweep_schedule: str = Field(
        "*/5 * * * *", description="Cron of the sweeper trigger (Cloud Scheduler)."
    )
    provider_key_secrets: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"openai": "aiexec-openai-api-key"},
        description="Secret Manager secret holding each provider's API key "
        "(`provider=secret[:version],...`); deploy mounts it into that provider's worker "
        "only. A provider not listed gets no key.",
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
    usage_ttl_days: int = Field(
        0,
        ge=0,
        description="Days raw `usage` documents are kept (Firestore TTL on `expire_at`; the "
        "report reads the rollups). 0 keeps them forever.",
    )
