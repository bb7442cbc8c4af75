"""The report function's logic: build a period's report from rollups, store it, deliver it.

Idempotent: the document id is the period (`reports/2026-W47`), so running twice rewrites one
report; each delivery channel is *claimed* in the same transaction that writes the report, so
two concurrent runs (a duplicate Pub/Sub delivery) deliver once, and a channel that already
succeeded is not delivered again unless the request says `redeliver`. A failed channel is
retried on the next run; a claim left by a crashed run expires after the channel's worst case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from shared.catalog import catalog
from shared.clock import utcnow
from shared.events import MalformedEnvelopeError, decode
from shared.firestore.client import Client, LazyClient
from shared.firestore.reports import Decision, ReportDocuments
from shared.reports.aggregate import RollupReader, build_report
from shared.reports.chart import render_chart
from shared.reports.delivery import (
    DELIVERED,
    SENDING,
    DeliveryResult,
    Email,
    EmailSender,
    WebhookSender,
    with_retries,
)
from shared.reports.html_report import png_data_uri, to_html
from shared.reports.period import Period, PeriodError, ReportRequest, parse_request
from shared.reports.render import chat_message, to_markdown, to_text
from shared.reports.tables import headline, title
from shared.settings import ReportServiceSettings, report_settings
from shared.structured_logs import log
from shared.tracing import entry_span, start_function

logger = logging.getLogger(__name__)
CLAIM_MARGIN_S = 30.0


@dataclass(frozen=True)
class Rendered:
    report: dict[str, Any]  # the document's data fields
    text: str
    markdown: str
    html: str  # chart embedded as a data URI
    chart_png: bytes


def _claimable(state: dict[str, Any] | None, now: datetime, ttl: timedelta) -> bool:
    if not state:
        return True
    if state.get("status") == DELIVERED:
        return False
    claimed_at = state.get("claimed_at")
    live = isinstance(claimed_at, datetime) and claimed_at > now - ttl
    return not (state.get("status") == SENDING and live)


class ReportService:
    def __init__(self, settings: ReportServiceSettings, client: Client | None = None) -> None:
        self.settings = settings
        # Not counted by `aiexec bench` (as before the data layer): the report is not the pipeline.
        self._client = LazyClient(settings, client, counted=False)
        self.documents = ReportDocuments(settings, self._client)
        self.webhook = WebhookSender(settings)
        self.email = EmailSender(settings)

    @property
    def client(self) -> Client:
        return self._client()

    def report_ref(self, report_id: str) -> Any:
        return self.documents.ref(report_id)

    # --- building ---------------------------------------------------------------------

    def build(self, period: Period, now: datetime | None = None) -> Rendered:
        """The report of `period` and its renderings; reads rollups only, writes nothing."""
        reader = RollupReader(self.settings, self.client)
        report = build_report(
            period,
            reader.read(period),
            reader.read(period.previous()),
            generated_at=now or utcnow(),
            price_version=catalog().version,
            settings=self.settings,
        )
        chart = render_chart(report)
        html = to_html(report, png_data_uri(chart))
        return Rendered(report, to_text(report), to_markdown(report), html, chart)

    # --- running (the function) -------------------------------------------------------

    def run(self, request: ReportRequest, now: datetime | None = None) -> dict[str, Any]:
        """Build, store and deliver; returns the delivery results by channel."""
        now = now or utcnow()
        rendered = self.build(request.period, now)
        claimed = self._store(rendered, now, request.redeliver)
        results = [self._deliver(channel, rendered) for channel in claimed]
        if results:
            self.documents.update(
                rendered.report["id"],
                {f"delivery.{r.channel}": r.document(utcnow()) for r in results},
            )
        log(
            logger,
            logging.INFO,
            "report written",
            report_id=rendered.report["id"],
            tasks=rendered.report["totals"]["tasks"],
            cost_usd=rendered.report["totals"]["cost_usd"],
            documents_read=rendered.report["source"]["documents_read"],
            delivered={r.channel: r.status for r in results},
        )
        return {r.channel: r.status for r in results}

    def _claim_ttl(self) -> timedelta:
        settings = self.settings
        tries = settings.report_delivery_attempts
        worst = tries * max(settings.report_webhook_timeout_s, settings.smtp_timeout_s)
        worst += settings.report_delivery_backoff_s * (2**tries)
        return timedelta(seconds=worst + CLAIM_MARGIN_S)

    @staticmethod
    def _files(rendered: Rendered) -> dict[str, dict[str, Any]]:
        """The renderings, one document each under `reports/{id}/files/`."""
        return {
            "report.md": {"content_type": "text/markdown", "text": rendered.markdown},
            "report.txt": {"content_type": "text/plain", "text": rendered.text},
            "report.html": {"content_type": "text/html", "text": rendered.html},
            "chart.png": {"content_type": "image/png", "data": rendered.chart_png},
        }

    def _store(self, rendered: Rendered, now: datetime, redeliver: bool) -> list[str]:
        """Write the report and its files; claim the channels this run should deliver."""
        channels = [s for s in (self.webhook, self.email) if s.configured]
        ttl = self._claim_ttl()
        files = self._files(rendered)

        def decide(existing: dict[str, Any]) -> Decision[list[str]]:
            delivery: dict[str, Any] = dict(existing.get("delivery") or {})
            claimed = []
            for sender in channels:
                if redeliver or _claimable(delivery.get(sender.channel), now, ttl):
                    delivery[sender.channel] = {
                        "status": SENDING,
                        "claimed_at": now,
                        "target": sender.target,
                    }
                    claimed.append(sender.channel)
            document = rendered.report | {
                "markdown": rendered.markdown,
                "files": {name: f"files/{name}" for name in files},
                "delivery": delivery,
                "runs": int(existing.get("runs") or 0) + 1,
                "first_generated_at": existing.get("first_generated_at") or now,
            }
            return document, files, claimed

        return self.documents.replace(rendered.report["id"], decide, now)

    def _deliver(self, channel: str, rendered: Rendered) -> DeliveryResult:
        sender = self._send_webhook if channel == self.webhook.channel else self._send_email
        target = self.webhook.target if channel == self.webhook.channel else self.email.target
        return with_retries(
            channel,
            target,
            self.settings.report_delivery_attempts,
            self.settings.report_delivery_backoff_s,
            lambda: sender(rendered),
        )

    def _send_webhook(self, rendered: Rendered) -> None:
        self.webhook.send(chat_message(rendered.report))

    def _send_email(self, rendered: Rendered) -> None:
        report = rendered.report
        email = Email(
            subject=f"{title(report)}: {headline(report)}",
            text=rendered.text,
            html_for_cid=lambda src: to_html(report, src),
            chart_png=rendered.chart_png,
        )
        self.email.send(email)


# --- the Pub/Sub entry point ----------------------------------------------------------


@lru_cache(maxsize=1)
def report_service() -> ReportService:
    settings = report_settings()
    start_function("report", settings, settings.project_id)
    return ReportService(settings)


def handle_report_event(event: Any) -> None:
    """One `usage-report-requests` delivery. Bad requests are logged and acked (retrying
    cannot fix them); Firestore errors raise, so Pub/Sub redelivers."""
    service = report_service()
    try:
        message = decode(event.data)
        request = parse_request(message.data, utcnow(), service.settings.report_timezone)
    except (MalformedEnvelopeError, PeriodError) as error:
        log(logger, logging.ERROR, "bad report request; acked", reason=str(error))
        return
    with entry_span("report", message.attributes, message_id=message.message_id):
        service.run(request)
