"""The `report` function behind a real Pub/Sub push subscription (emulator → functions-framework).

The function is served in this process by functions-framework's own app (the same code path as
`functions-framework --target report`), on a private topic so no other subscriber interferes.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import functions_framework
import httpx
import pytest
from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]
from werkzeug.serving import make_server

from infra.settings import Settings, get_settings
from shared.reports.service import report_service
from tests.reports.conftest import Receiver, wait_for_document
from tests.reports.workload import Workload, ok

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def report_function(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The function's URL; it reads its settings from the environment, as when deployed."""
    env = {
        "AIEXEC_COLLECTION_TASKS": settings.collection_tasks,
        "AIEXEC_COLLECTION_USAGE": settings.collection_usage,
        "AIEXEC_COLLECTION_ROLLUPS": settings.collection_rollups,
        "AIEXEC_COLLECTION_REPORTS": settings.collection_reports,
        "AIEXEC_ROLLUP_SHARDS": str(settings.rollup_shards),
        "AIEXEC_REPORT_TIMEZONE": "UTC",
        "AIEXEC_REPORT_WEBHOOK_URL": receiver.url,
        "AIEXEC_REPORT_DELIVERY_BACKOFF_S": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    report_service.cache_clear()
    app = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target="report", source=str(REPO / "functions/report/main.py"), signature_type="cloudevent"
    )
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # the function configures JSON logging
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        root.handlers[:] = handlers
        root.setLevel(level)
        report_service.cache_clear()
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.fixture
def trigger_topic(settings: Settings, report_function: str) -> Iterator[str]:
    """A private topic with a push subscription to the function (like usage-report-requests)."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    suffix = time.time_ns()
    topic = publisher.topic_path(settings.project_id, f"report-requests-{suffix}")
    subscription = subscriber.subscription_path(settings.project_id, f"report-{suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(
        request={
            "name": subscription,
            "topic": topic,
            "push_config": {"push_endpoint": report_function},
            "ack_deadline_seconds": 60,
        }
    )
    try:
        yield topic
    finally:
        subscriber.delete_subscription(subscription=subscription)
        publisher.delete_topic(topic=topic)


def test_triggered_twice_through_pubsub_gives_one_report_and_one_delivery(
    settings: Settings,
    workload: Workload,
    receiver: Receiver,
    trigger_topic: str,
) -> None:
    utc = ZoneInfo("UTC")
    for day in (15, 16, 17):
        when = datetime(2021, 11, day, 10, tzinfo=utc)
        workload.task(when, f"team-{day}", [("openai", [ok("gpt-6.1-terra")])])
    publisher = pubsub_v1.PublisherClient()
    data = json.dumps({"week": "2021-W46"}).encode()
    for _ in range(2):
        publisher.publish(trigger_topic, data).result(timeout=30)

    reports = workload.store.client.collection(settings.collection_reports)
    report: dict[str, Any] = wait_for_document(
        reports.document("2021-W46"),
        lambda doc: (
            doc.get("runs") == 2
            and (doc.get("delivery") or {}).get("webhook", {}).get("status") == "delivered"
        ),
    )
    assert [doc.id for doc in reports.stream()] == ["2021-W46"]
    assert report["totals"]["tasks"] == 3
    assert sorted(report["by_client"]) == ["team-15", "team-16", "team-17"]
    assert len(receiver.bodies) == 1  # the second run found the channel claimed/delivered
    assert "2021-W46" in receiver.bodies[0]["text"]


def test_a_bad_request_is_acked_not_retried(settings: Settings, report_function: str) -> None:
    """Invalid message data is logged and acked: retrying could not fix it."""
    event = {
        "message": {"data": base64.b64encode(b'{"week": "2021-W99"}').decode(), "messageId": "1"},
        "subscription": "projects/p/subscriptions/s",
    }
    response = httpx.post(report_function, json=event, timeout=30)
    assert response.status_code == 200
    client = firestore.Client(project=settings.project_id)
    assert list(client.collection(settings.collection_reports).limit(1).stream()) == []
