"""HTTPS attachments through the outbound-URL guard: a real local HTTP server (the local-stack
setting lets a worker reach it; production refuses it), bounded reads, classified failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.attachments import https
from shared.attachments.check import check_readable
from shared.attachments.errors import (
    TOO_LARGE,
    UNREADABLE,
    AttachmentError,
    AttachmentUnavailableError,
    AttachmentUnreadableError,
)
from shared.attachments.fetch import read_file
from shared.attachments.limits import FileRef
from shared.settings import TaskSettings

BODY = b"%PDF-1.4 four kilobytes " * 170  # 4080 bytes


class Files(BaseHTTPRequestHandler):
    """/ok: the body with its length; /stream: the body without a length (read to the end);
    /missing 404, /broken 503, /moved 302, /nohead: 405 to HEAD."""

    def do_HEAD(self) -> None:
        if self.path == "/nohead":
            self._answer(405)
            return
        self._route(send_body=False)

    def do_GET(self) -> None:
        self._route(send_body=True)

    def _route(self, send_body: bool) -> None:
        status = {"/missing": 404, "/broken": 503, "/moved": 302}.get(self.path, 200)
        if status != 200:
            self._answer(status)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        if self.path != "/stream":
            self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        if send_body:
            self.wfile.write(BODY)
            self.wfile.flush()
        if self.path == "/stream":
            self.close_connection = True

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.send_header("Location", "https://example.com/")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def local(**overrides: object) -> TaskSettings:
    return TaskSettings(attachment_allow_private=True, attachment_timeout_s=5, **overrides)  # type: ignore[arg-type]


@pytest.mark.usefixtures("default_settings_env")
def test_a_worker_reads_the_file_with_or_without_a_length(server: str) -> None:
    assert read_file(local(), f"{server}/ok") == BODY
    assert read_file(local(), f"{server}/stream") == BODY


@pytest.mark.usefixtures("default_settings_env")
def test_a_file_over_the_limit_is_never_read_whole(server: str) -> None:
    for path in ("/ok", "/stream"):
        with pytest.raises(AttachmentUnreadableError) as caught:
            read_file(local(max_attachment_bytes=1000), f"{server}{path}")
        assert caught.value.code == TOO_LARGE


@pytest.mark.usefixtures("default_settings_env")
def test_failures_are_classified(server: str) -> None:
    for path in ("/missing", "/moved"):
        with pytest.raises(AttachmentUnreadableError) as gone:
            read_file(local(), f"{server}{path}")
        assert gone.value.code == UNREADABLE and not gone.value.counts_against_provider
    with pytest.raises(AttachmentUnavailableError) as passing:
        read_file(local(), f"{server}/broken")
    assert not passing.value.counts_against_provider


@pytest.mark.usefixtures("default_settings_env")
def test_production_refuses_local_addresses_and_http(server: str) -> None:
    with pytest.raises(AttachmentUnreadableError) as caught:
        read_file(TaskSettings(), f"{server}/ok")
    assert caught.value.code == UNREADABLE
    port = server.rsplit(":", 1)[1]
    with pytest.raises(AttachmentUnreadableError) as loopback:
        https.pin(f"https://127.0.0.1:{port}/ok", allow_private=False)
    assert "loopback" in loopback.value.message
    with pytest.raises(AttachmentUnreadableError) as metadata:
        https.pin(
            "https://metadata.google.internal/x",
            allow_private=False,
            resolve=lambda h, p: ["8.8.8.8"],
        )
    assert "metadata" in metadata.value.message
    with pytest.raises(AttachmentUnreadableError):
        https.pin("https://files.example/x", allow_private=False, resolve=lambda h, p: ["10.0.0.7"])


@pytest.mark.usefixtures("default_settings_env")
def test_ingest_checks_the_url_answers_within_the_limit(server: str) -> None:
    def ref(path: str) -> FileRef:
        return FileRef("attachments.1", f"{server}{path}", "application/pdf")

    check_readable(local(), [ref("/ok"), ref("/stream"), ref("/nohead")])
    with pytest.raises(AttachmentError) as large:
        check_readable(local(max_attachment_bytes=100), [ref("/ok")])
    assert (large.value.code, large.value.field) == (TOO_LARGE, "attachments.1.uri")
    with pytest.raises(AttachmentError) as missing:
        check_readable(local(), [ref("/missing")])
    assert (missing.value.code, missing.value.field) == (UNREADABLE, "attachments.1.uri")
    with pytest.raises(AttachmentError) as private:
        check_readable(
            TaskSettings(), [FileRef("messages.0.content.1", f"{server}/ok", "image/png")]
        )
    assert (private.value.code, private.value.field) == (UNREADABLE, "messages.0.content.1.uri")
