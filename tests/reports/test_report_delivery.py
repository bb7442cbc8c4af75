"""Delivery to a local webhook receiver and a local SMTP server; failures recorded, not fatal;
the rendered HTML (file and e-mail) carries the chart as a real PNG and the numbers."""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest
from pydantic import SecretStr

from infra.settings import Settings
from shared.reports.chart import PNG_SIGNATURE
from shared.reports.period import ReportRequest, iso_week
from shared.reports.service import ReportService
from shared.reports.tables import count, usd
from tests.reports.conftest import Receiver
from tests.reports.workload import Workload, fatal, ok

WEEK = "2021-W46"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("UTC"))


def small_workload(w: Workload) -> None:
    w.task(at("2021-11-15T10:00"), "team-a", [("openai", [ok("gpt-6.1-terra")])])
    w.task(at("2021-11-16T10:00"), "team-b", [("openai", [ok("gpt-6.2-sol", output=900)])])
    w.task(
        at("2021-11-17T10:00"),
        "team-a",
        [("openai", [fatal("gpt-6.2-sol")]), ("vertex", [ok("gemini-3.5-flash")])],
    )


def assert_png(png: bytes) -> None:
    assert png.startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[0] > 100 and image.shape[1] > 100


def report_doc(service: ReportService) -> dict[str, Any]:
    snapshot = service.report_ref(WEEK).get()
    assert snapshot.exists
    doc: dict[str, Any] = snapshot.to_dict()
    return doc


def test_webhook_gets_the_summary_once(
    settings: Settings, workload: Workload, receiver: Receiver
) -> None:
    small_workload(workload)
    service = ReportService(
        settings.model_copy(update={"report_webhook_url": SecretStr(receiver.url)})
    )
    request = ReportRequest(iso_week(WEEK, "UTC"))
    assert service.run(request) == {"webhook": "delivered"}
    [body] = receiver.bodies
    report = report_doc(service)
    assert set(body) == {"text"}  # the Slack / Google Chat incoming-webhook payload
    assert WEEK in body["text"] and usd(report["totals"]["cost_usd"]) in body["text"]
    delivery = report["delivery"]["webhook"]
    assert (delivery["status"], delivery["attempts"], delivery["error"]) == ("delivered", 1, None)
    assert "SECRET" not in delivery["target"]  # the webhook URL's secret path is not stored
    # A second run (e.g. a duplicate trigger) rewrites the report but does not post again;
    # `redeliver` does.
    assert service.run(request) == {}
    assert service.run(ReportRequest(request.period, redeliver=True)) == {"webhook": "delivered"}
    assert len(receiver.bodies) == 2


def test_email_carries_text_and_html_with_the_chart_inline(
    settings: Settings, workload: Workload, mailbox: tuple[Any, int]
) -> None:
    small_workload(workload)
    handler, port = mailbox
    handler.messages.clear()
    update: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "report_email_to": ["team@example.com", "finance@example.com"],
        "report_email_from": "reports@example.com",
    }
    service = ReportService(settings.model_copy(update=update))
    assert service.run(ReportRequest(iso_week(WEEK, "UTC"))) == {"email": "delivered"}
    [message] = handler.messages
    assert isinstance(message, EmailMessage)
    assert message["To"] == "team@example.com, finance@example.com"
    assert WEEK in message["Subject"]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "By provider" in text.get_content()
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    cid = str(image["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert_png(image.get_content())
    report = report_doc(service)
    assert report["delivery"]["email"]["status"] == "delivered"
    assert report["delivery"]["email"]["target"] == "team@example.com, finance@example.com"


def test_a_failing_webhook_is_retried_recorded_and_retried_on_the_next_run(
    settings: Settings, workload: Workload, receiver: Receiver, mailbox: tuple[Any, int]
) -> None:
    small_workload(workload)
    handler, port = mailbox
    handler.messages.clear()
    receiver.statuses = [500]
    update: dict[str, Any] = {
        "report_webhook_url": SecretStr(receiver.url),
        "report_delivery_attempts": 3,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "report_email_to": ["team@example.com"],
    }
    service = ReportService(settings.model_copy(update=update))
    request = ReportRequest(iso_week(WEEK, "UTC"))
    assert service.run(request) == {"webhook": "failed", "email": "delivered"}
    report = report_doc(service)
    assert report["totals"]["tasks"] == 3  # the report itself is there
    webhook = report["delivery"]["webhook"]
    assert (webhook["status"], webhook["attempts"]) == ("failed", 3)
    assert "HTTP 500" in webhook["error"]
    assert len(receiver.bodies) == 3
    # The next trigger retries the failed channel only.
    receiver.statuses = [200]
    assert service.run(request) == {"webhook": "delivered"}
    assert report_doc(service)["delivery"]["webhook"]["status"] == "delivered"
    assert len(handler.messages) == 1


def test_a_refused_webhook_is_not_retried_and_an_unreachable_smtp_server_is_recorded(
    settings: Settings, receiver: Receiver
) -> None:
    from tests.reports.conftest import free_port

    receiver.statuses = [404]
    update: dict[str, Any] = {
        "report_webhook_url": SecretStr(receiver.url),
        "smtp_host": "127.0.0.1",
        "smtp_port": free_port(),  # nobody listens there
        "smtp_starttls": False,
        "report_email_to": ["team@example.com"],
        "report_delivery_attempts": 2,
    }
    service = ReportService(settings.model_copy(update=update))
    assert service.run(ReportRequest(iso_week(WEEK, "UTC"))) == {
        "webhook": "failed",
        "email": "failed",
    }
    delivery = report_doc(service)["delivery"]
    assert (delivery["webhook"]["attempts"], len(receiver.bodies)) == (1, 1)  # 4xx: no retry
    assert delivery["email"]["attempts"] == 2
    assert "ConnectionRefused" in delivery["email"]["error"]


def test_html_file_has_a_valid_png_chart_and_the_numbers(
    settings: Settings, workload: Workload
) -> None:
    small_workload(workload)
    service = ReportService(settings)
    service.run(ReportRequest(iso_week(WEEK, "UTC")))
    report = report_doc(service)
    files = service.report_ref(WEEK).collection("files")
    html = files.document("report.html").get().to_dict()["text"]
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match is not None
    png = base64.b64decode(match.group(1))
    assert_png(png)
    assert files.document("chart.png").get().to_dict()["data"] == png
    totals = report["totals"]
    for figure in (usd(totals["cost_usd"]), count(totals["tokens"]), "gemini-3.5-flash"):
        assert figure in html
    for provider, row in report["by_provider"].items():
        assert f"<td>{provider}</td>" in html and usd(row["cost_usd"]) in html
    assert report["markdown"].startswith(f"# AI usage report {WEEK}")
    assert usd(totals["cost_usd"]) in report["markdown"]


@pytest.fixture(autouse=True)
def _no_delivery_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliveries here are configured per test, never inherited from the environment."""
    for name in ("AIEXEC_REPORT_WEBHOOK_URL", "AIEXEC_SMTP_HOST", "AIEXEC_REPORT_EMAIL_TO"):
        monkeypatch.delenv(name, raising=False)
