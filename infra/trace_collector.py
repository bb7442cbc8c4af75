"""The local stack's trace collector: OTLP over HTTP in, spans kept in memory, traces out.

The functions of the local stack export their spans here (`AIEXEC_TRACE_EXPORTER=otlp`), as
deployed ones export to Cloud Trace. Routes:

- `POST /v1/traces`: an OTLP/HTTP export (protobuf, `ExportTraceServiceRequest`);
- `GET /traces/<trace_id>`: that trace's spans as JSON, or, for a browser (`Accept: text/html`),
  a page with its span tree (what `AIEXEC_TRACE_LINK_TEMPLATE` points to locally);
- `GET /traces`: the ids of the traces held, newest first; `GET /health`: `Ok`.

Run: `python -m infra.trace_collector --host 127.0.0.1 --port 4318`.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from infra.trace_tree import render_tree

MAX_TRACES = 20_000  # oldest dropped first: memory stays bounded on a long-running stack
MAX_BODY_BYTES = 32 * 1024 * 1024
_TRACE_PATH = re.compile(r"^/traces/([0-9a-f]{32})/?$")
_STATUS = {0: "unset", 1: "ok", 2: "error"}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        found[pair.key] = _value(pair.value)
    return found


def decode_spans(body: bytes) -> list[dict[str, Any]]:
    """The spans of one OTLP/HTTP protobuf export, as plain dictionaries."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        service = _attributes(resource_spans.resource.attributes).get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                spans.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "name": span.name,
                        "service": service,
                        "start_unix_nano": start,
                        "end_unix_nano": end,
                        "duration_ms": round((end - start) / 1e6, 3),
                        "status": _STATUS.get(span.status.code, "unset"),
                        "status_message": span.status.message or None,
                        "attributes": _attributes(span.attributes),
                    }
                )
    return spans


class SpanStore:
    """Spans by trace id, in memory (thread-safe; the server answers requests in threads)."""

    def __init__(self, max_traces: int = MAX_TRACES) -> None:
        self._traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_traces = max_traces

    def add(self, spans: list[dict[str, Any]]) -> None:
        with self._lock:
            for span in spans:
                trace_id = span["trace_id"]
                self._traces.setdefault(trace_id, []).append(span)
                self._traces.move_to_end(trace_id)
            while len(self._traces) > self.max_traces:
                self._traces.popitem(last=False)

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            spans = list(self._traces.get(trace_id, []))
        return sorted(spans, key=lambda span: span["start_unix_nano"])

    def trace_ids(self, limit: int = 100) -> list[str]:
        with self._lock:
            return list(reversed(self._traces))[:limit]


def _page(trace_id: str, spans: list[dict[str, Any]]) -> str:
    tree = html.escape(render_tree(trace_id, spans)) if spans else "No spans (yet)."
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>trace {trace_id}</title></head><body>"
        f"<h1>Trace {trace_id}</h1><pre>{tree}</pre>"
        f"<p><a href='/traces/{trace_id}?format=json'>JSON</a></p></body></html>"
    )


def make_handler(store: SpanStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # one line per export would drown the stack's log

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: Any) -> None:
            self._send(status, json.dumps(value).encode(), "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path.split("?")[0] != "/v1/traces":
                self._json(404, {"error": "not found"})
                return
            if not 0 <= length <= MAX_BODY_BYTES:
                self._json(413, {"error": "too large"})
                return
            try:
                store.add(decode_spans(self.rfile.read(length)))
            except DecodeError:
                self._json(400, {"error": "not an OTLP protobuf export"})
                return
            answer = ExportTraceServiceResponse().SerializeToString()
            self._send(200, answer, "application/x-protobuf")

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/health":
                self._send(200, b"Ok", "text/plain")
                return
            if path.rstrip("/") == "/traces":
                self._json(200, {"trace_ids": store.trace_ids()})
                return
            found = _TRACE_PATH.match(path)
            if found is None:
                self._json(404, {"error": "not found"})
                return
            trace_id = found.group(1)
            spans = store.trace(trace_id)
            wants_page = "text/html" in (self.headers.get("Accept") or "")
            if wants_page and "format=json" not in query:
                self._send(200, _page(trace_id, spans).encode(), "text/html; charset=utf-8")
                return
            self._json(200 if spans else 404, {"trace_id": trace_id, "spans": spans})

    return Handler


def serve(host: str, port: int) -> None:
    server = ThreadingHTTPServer((host, port), make_handler(SpanStore()))
    server.daemon_threads = True
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the local stack's OTLP/HTTP trace collector")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
