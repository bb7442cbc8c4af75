"""The local trace collector (infra/trace_collector.py) takes what the OTLP/HTTP exporter of the
functions sends and serves each trace as JSON and as a page (AIEXEC_TRACE_LINK_TEMPLATE)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from infra.trace_collector import SpanStore, make_handler


@pytest.fixture
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(SpanStore(max_traces=2)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _export(url: str, service: str) -> str:
    """One trace of two spans, exported as a function of the stack does; its id."""
    provider = TracerProvider(resource=Resource({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("worker-openai", attributes={"aiexec.hop": 0}) as hop,
        tracer.start_as_current_span("provider.call", attributes={"aiexec.attempt": 1}),
    ):
        pass
    provider.shutdown()
    return format(hop.get_span_context().trace_id, "032x")


def test_exported_spans_come_back_as_the_trace(collector: str) -> None:
    trace_id = _export(collector, "worker-openai")
    answer = httpx.get(f"{collector}/traces/{trace_id}", timeout=5)
    assert answer.status_code == 200
    spans = answer.json()["spans"]
    assert [s["name"] for s in spans] == ["worker-openai", "provider.call"]  # by start time
    hop, call = spans
    assert hop["service"] == "worker-openai" and hop["parent_span_id"] is None
    assert call["parent_span_id"] == hop["span_id"]
    assert call["attributes"] == {"aiexec.attempt": 1}
    assert hop["end_unix_nano"] >= call["end_unix_nano"] >= call["start_unix_nano"]
    assert httpx.get(f"{collector}/traces", timeout=5).json()["trace_ids"] == [trace_id]


def test_a_browser_gets_the_span_tree_as_a_page(collector: str) -> None:
    trace_id = _export(collector, "worker-openai")
    page = httpx.get(f"{collector}/traces/{trace_id}", headers={"Accept": "text/html"}, timeout=5)
    assert page.headers["content-type"].startswith("text/html")
    assert f"trace {trace_id}  2 spans" in page.text
    assert "└─ provider.call attempt=1" in page.text


def test_unknown_traces_and_bad_exports_are_refused(collector: str) -> None:
    assert httpx.get(f"{collector}/traces/{'0' * 32}", timeout=5).status_code == 404
    assert httpx.get(f"{collector}/traces/not-an-id", timeout=5).status_code == 404
    refused = httpx.post(f"{collector}/v1/traces", content=b"\xff\xff not protobuf", timeout=5)
    assert refused.status_code == 400
    assert httpx.get(f"{collector}/health", timeout=5).text == "Ok"


def test_the_oldest_traces_are_dropped_past_the_limit(collector: str) -> None:
    first, second, third = (_export(collector, "ingest") for _ in range(3))
    held = httpx.get(f"{collector}/traces", timeout=5).json()["trace_ids"]
    assert held == [third, second]  # max_traces=2, newest first
    assert httpx.get(f"{collector}/traces/{first}", timeout=5).status_code == 404
