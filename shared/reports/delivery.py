"""Delivering a report: a chat webhook (Slack / Google Chat) and e-mail over SMTP.

Each channel is optional (configured in settings), retried with back-off on transient failures,
and reports a `DeliveryResult` instead of raising: a delivery problem is recorded on the report
document and never fails the report itself.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.errors import AIExecError
from shared.settings import ReportServiceSettings
from shared.structured_logs import log

logger = logging.getLogger(__name__)
pause = time.sleep  # back-off between tries (replaceable in tests)

WEBHOOK, EMAIL = "webhook", "email"
DELIVERED, FAILED, SENDING = "delivered", "failed", "sending"
_MAX_ERROR = 500


class DeliveryError(AIExecError):
    """A failed try; `retryable=False` when trying again cannot help (4xx, auth, bad address)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class DeliveryResult:
    channel: str
    status: str
    attempts: int
    target: str
    error: str | None = None

    def document(self, at: datetime) -> dict[str, Any]:
        return {
            "status": self.status,
            "attempts": self.attempts,
            "target": self.target,
            "error": self.error,
            "at": at,
        }


def with_retries(
    channel: str, target: str, attempts: int, backoff_s: float, send: Callable[[], None]
) -> DeliveryResult:
    """Try `send` up to `attempts` times; never raises."""
    error = "not tried"
    for attempt in range(1, attempts + 1):
        try:
            send()
        except DeliveryError as exc:
            error, retryable = str(exc), exc.retryable
        except Exception as exc:  # noqa: BLE001 - any failure is recorded, never raised
            error, retryable = f"{type(exc).__name__}: {exc}", True
        else:
            log(logger, logging.INFO, "report delivered", channel=channel, attempts=attempt)
            return DeliveryResult(channel, DELIVERED, attempt, target)
        log(
            logger,
            logging.WARNING,
            "report delivery failed",
            channel=channel,
            attempt=attempt,
            error=error[:_MAX_ERROR],
        )
        if not retryable:
            return DeliveryResult(channel, FAILED, attempt, target, error[:_MAX_ERROR])
        if attempt < attempts:
            pause(backoff_s * 2 ** (attempt - 1))
    return DeliveryResult(channel, FAILED, attempts, target, error[:_MAX_ERROR])


class WebhookSender:
    """POST `{"text": …}`: the payload both Slack and Google Chat incoming webhooks accept."""

    channel = WEBHOOK

    def __init__(self, settings: ReportServiceSettings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return self.settings.report_webhook_url is not None

    @property
    def target(self) -> str:
        """Scheme and host only: the path of an incoming webhook URL is its secret."""
        url = self._url()
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "(invalid URL)"

    def _url(self) -> str:
        secret = self.settings.report_webhook_url
        return secret.get_secret_value() if secret is not None else ""

    def send(self, text: str) -> None:
        try:
            response = httpx.post(
                self._url(), json={"text": text}, timeout=self.settings.report_webhook_timeout_s
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            retryable = response.status_code == 429 or response.status_code >= 500
            body = response.text[:200]
            raise DeliveryError(f"HTTP {response.status_code}: {body}", retryable=retryable)


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html_for_cid: Callable[[str], str]  # the HTML given the chart's `cid:` URL
    chart_png: bytes


class EmailSender:
    """A multipart e-mail: plain text, and HTML whose chart is an inline (cid) PNG."""

    channel = EMAIL

    def __init__(self, settings: ReportServiceSettings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host and self.settings.report_email_to)

    @property
    def target(self) -> str:
        return ", ".join(self.settings.report_email_to)

    def message(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = email.subject
        message["From"] = self.settings.report_email_from
        message["To"] = ", ".join(self.settings.report_email_to)
        message.set_content(email.text)
        cid = make_msgid(domain="aiexec.report")
        message.add_alternative(email.html_for_cid(f"cid:{cid[1:-1]}"), subtype="html")
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None  # just added
        html_part.add_related(email.chart_png, "image", "png", cid=cid, filename="chart.png")
        return message

    def send(self, email: Email) -> None:
        settings = self.settings
        try:
            with smtplib.SMTP(
                settings.smtp_host or "", settings.smtp_port, timeout=settings.smtp_timeout_s
            ) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_user:
                    password = settings.smtp_password
                    smtp.login(settings.smtp_user, password.get_secret_value() if password else "")
                smtp.send_message(self.message(email))
        except smtplib.SMTPResponseException as exc:
            detail = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {detail}", retryable=exc.smtp_code < 500
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipients refused: {exc.recipients}", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
