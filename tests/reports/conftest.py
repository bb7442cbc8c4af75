"""Fixtures of the report tests: isolated collections on the session's Firestore emulator, a
local webhook receiver, a local SMTP server (aiosmtpd), and a snapshot-listener wait."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from infra.settings import Settings
from shared.reports.service import ReportService
from tests.reports.workload import Workload, own_collections

WAIT_S = 30.0


@pytest.fixture
def settings(stack: Any) -> Settings:
    """The stack's settings with collections of this test's own (tests never see each other's
    rollups) and no back-off between delivery tries."""
    return own_collections(stack.settings, rollup_shards=4, report_delivery_backoff_s=0.0)


@pytest.fixture
def workload(settings: Settings) -> Workload:
    return Workload(settings)


@pytest.fixture
def service(settings: Settings) -> ReportService:
    return ReportService(settings)


class Receiver:
    """A local incoming-webhook endpoint; answers with `statuses` in turn (then the last)."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.statuses = [200]
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length) or b"null"))
                status = receiver.statuses[min(len(receiver.bodies), len(receiver.statuses)) - 1]
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"simulated failure")

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/SECRET"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


class _MailHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def mailbox() -> Iterator[tuple[_MailHandler, int]]:
    """A real SMTP server (aiosmtpd) on a local port; tests read what it received."""
    handler = _MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def wait_for_document(
    ref: Any, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = WAIT_S
) -> dict[str, Any]:
    """The document once `predicate` holds, woken by a snapshot listener (no polling)."""
    done = threading.Event()
    latest: dict[str, Any] = {}

    def on_change(snapshots: list[Any], _changes: Any, _read_time: Any) -> None:
        for snap in snapshots:
            if snap.exists:
                latest["doc"] = snap.to_dict()
                if predicate(latest["doc"]):
                    done.set()

    watch = ref.on_snapshot(on_change)
    try:
        assert done.wait(timeout_s), f"condition not met within {timeout_s}s: {latest}"
    finally:
        watch.unsubscribe()
    document: dict[str, Any] = latest["doc"]
    return document
