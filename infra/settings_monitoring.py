"""The monitoring section: where alerts go and when the failure rate alerts (the alert policies
the deploy plan creates: infra/deploy/monitoring.py). Tooling only."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode


class MonitoringSettings(BaseSettings):
    # --- alerts (`aiexec deploy`: Cloud Monitoring) --------------------------------------
    alert_email: str = Field(
        "",
        description="Email address the alert policies notify: deploy finds (or creates) a "
        "Cloud Monitoring email channel for it. Empty (and no AIEXEC_ALERT_CHANNELS): the "
        "policies open incidents in the console only.",
    )
    alert_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Existing Cloud Monitoring notification channels the alert policies notify, "
        "comma-separated (`projects/PROJECT/notificationChannels/ID`, or the ID).",
    )
    alert_failure_rate: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Failed tasks over finished tasks within AIEXEC_ALERT_FAILURE_WINDOW_MIN "
        "above which the failure-rate alert opens.",
    )
    alert_failure_window_min: int = Field(
        15,
        ge=1,
        le=1440,
        description="Minutes over which the failure-rate alert compares failed with finished "
        "tasks.",
    )

    @field_validator("alert_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return [c.strip() for c in value.split(",") if c.strip()]
        return value
