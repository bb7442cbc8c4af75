"""The reports section: where the weekly usage report is delivered (webhook, e-mail), read by
the report function only."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode


class ReportSettings(BaseSettings):
    # --- the weekly report: delivery ----------------------------------------------------
    report_webhook_url: SecretStr | None = Field(
        None, description="Slack / Google Chat incoming webhook the report is posted to."
    )
    report_webhook_timeout_s: float = Field(10.0, gt=0, description="Webhook call timeout.")
    smtp_host: str | None = Field(None, description="SMTP server for the report e-mail.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_user: str | None = Field(None, description="SMTP login (unset: no authentication).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout_s: float = Field(20.0, gt=0, description="SMTP connection timeout.")
    report_email_from: str = Field(
        "aiexec@localhost", description="Sender address of the report e-mail."
    )
    report_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Report e-mail recipients, comma-separated."
    )
    report_delivery_attempts: int = Field(
        3, ge=1, le=10, description="Tries per delivery channel before recording a failure."
    )
    report_delivery_backoff_s: float = Field(
        2.0, ge=0, description="First pause between delivery tries (doubles)."
    )

    @field_validator("report_email_to", mode="before")
    @classmethod
    def _split_recipients(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value
