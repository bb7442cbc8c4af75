"""Tracing (issue 18): W3C propagation through message attributes and headers, the task's
stored context, Cloud Logging's trace fields, provider-call spans, and the span tree."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from infra.trace_tree import finished, render_tree
from shared import call_spans, tracing
from shared.bus import Bus
from shared.settings import TaskSettings
from shared.structured_logs import (
    SAMPLED_FIELD,
    SPAN_FIELD,
    TRACE_FIELD,
    CloudLoggingFormatter,
)
from shared.usage import CallRecord

TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


@pytest.fixture(scope="module")
def exported() -> Iterator[InMemorySpanExporter]:
    """Every span this process ends, kept in memory (added to the process's provider)."""
    tracing.tracer()  # makes the provider if no function set it up in this process
    memory = InMemorySpanExporter()
    provider = tracing._State.provider
    assert provider is not None
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()


def ids(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_a_context_injected_into_attributes_is_continued_by_the_next_hop() -> None:
    with tracing.entry_span("ingest") as ingest:
        carried = tracing.inject({"callback": "1"})
    assert carried["callback"] == "1"
    match = TRACEPARENT_RE.match(carried[tracing.TRACEPARENT])
    assert match is not None
    assert (match.group(1), match.group(2)) == ids(ingest)
    with tracing.entry_span("worker-openai", carried) as hop:
        assert isinstance(hop, ReadableSpan)
        assert hop.parent is not None
        assert format(hop.parent.span_id, "016x") == ids(ingest)[1]
    assert ids(hop)[0] == ids(ingest)[0]


def test_http_headers_carry_the_callers_trace_whatever_their_case() -> None:
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing.entry_span("ingest", {"Traceparent": caller}) as span:
        assert ids(span)[0] == "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.parametrize("carrier", [None, {}, {"traceparent": "garbage"}, {"other": "x"}])
def test_without_a_valid_context_a_new_trace_starts(carrier: dict[str, str] | None) -> None:
    assert tracing.extract(carrier) is None
    with tracing.entry_span("ingest", carrier) as span:
        assert isinstance(span, ReadableSpan)
        assert span.parent is None and span.get_span_context().is_valid


def test_the_task_document_fields_name_the_trace_and_continue_it() -> None:
    assert tracing.task_trace() == {}  # outside a span: nothing to record
    with tracing.entry_span("ingest") as ingest:
        fields = tracing.task_trace()
    assert fields["trace_id"] == ids(ingest)[0]
    assert TRACEPARENT_RE.match(fields["trace_context"])
    # The sweeper (or the batch lane) continues from the document, with no message context.
    with tracing.task_span({"task_id": "t-1", **fields}, "sweeper.republish") as later:
        assert ids(later)[0] == fields["trace_id"]
        assert isinstance(later, ReadableSpan) and later.parent is not None
        assert format(later.parent.span_id, "016x") == ids(ingest)[1]
        assert later.attributes is not None and later.attributes["aiexec.task_id"] == "t-1"


class _Publisher:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future[str]:
        del topic, data
        self.sent.append(attributes)
        done: Future[str] = Future()
        done.set_result(str(len(self.sent)))
        return done


def test_the_bus_adds_the_current_context_to_every_message() -> None:
    publisher = _Publisher()
    bus = Bus(TaskSettings(), client=publisher)
    bus.publish("tasks-openai", b"{}")  # outside a span: no attribute
    with tracing.entry_span("worker-openai") as hop:
        bus.publish("task-results", b"{}", callback="1")
    assert publisher.sent[0] == {}
    assert publisher.sent[1]["callback"] == "1"
    found = TRACEPARENT_RE.match(publisher.sent[1][tracing.TRACEPARENT])
    assert found is not None and found.group(1) == ids(hop)[0]


def _log_line(project: str | None) -> dict[str, Any]:
    formatter = CloudLoggingFormatter("worker-openai", project)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    parsed: dict[str, Any] = json.loads(formatter.format(record))
    return parsed


def test_log_lines_inside_a_span_carry_cloud_loggings_trace_fields() -> None:
    assert TRACE_FIELD not in _log_line("demo-aiexec")  # no span: no trace fields
    with tracing.entry_span("worker-openai") as span:
        line = _log_line("demo-aiexec")
        unnamed = _log_line(None)
    trace_id, span_id = ids(span)
    assert line[TRACE_FIELD] == f"projects/demo-aiexec/traces/{trace_id}"
    assert line[SPAN_FIELD] == span_id
    assert line[SAMPLED_FIELD] is True
    assert TRACE_FIELD not in unnamed  # without a project there is no trace name to give


def test_a_provider_call_is_a_span_timed_by_its_record(exported: InMemorySpanExporter) -> None:
    started = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    failed = CallRecord(
        "openai", "gpt-4o-mini", started, started + timedelta(milliseconds=250), "transient",
        {"code": "unavailable", "message": "down"},
    )  # fmt: skip
    with tracing.entry_span("worker-openai") as hop:
        call_spans.record_call(failed, attempt=2)
    span = next(s for s in exported.get_finished_spans() if s.name == call_spans.CALL_SPAN)
    assert span.parent is not None and span.parent.span_id == hop.get_span_context().span_id
    assert span.attributes is not None
    assert span.attributes["aiexec.provider"] == "openai"
    assert span.attributes["aiexec.model"] == "gpt-4o-mini"
    assert span.attributes["aiexec.attempt"] == 2
    assert span.attributes["aiexec.outcome"] == "transient"
    assert span.attributes["aiexec.error_code"] == "unavailable"
    assert span.status.status_code is StatusCode.ERROR
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time - span.start_time == 250_000_000


def _span(
    name: str, span_id: str, parent: str | None, start_ms: int, **attrs: Any
) -> dict[str, Any]:
    return {
        "trace_id": "a" * 32,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "service": name if name.startswith(("ingest", "worker")) else "",
        "start_unix_nano": start_ms * 1_000_000,
        "end_unix_nano": (start_ms + 10) * 1_000_000,
        "duration_ms": 10.0,
        "status": "error" if attrs.get("aiexec.outcome") == "transient" else "ok",
        "status_message": None,
        "attributes": attrs,
    }


def test_the_span_tree_nests_hops_and_says_when_it_is_whole() -> None:
    spans = [
        _span("ingest", "1", "remote-caller", 0),
        _span("worker-openai", "2", "1", 20),
        _span("provider.call", "3", "2", 21, **{"aiexec.outcome": "transient"}),
        _span("worker-vertex", "4", "2", 40),
        _span("provider.call", "5", "4", 41, **{"aiexec.outcome": "ok"}),
    ]
    assert not finished(spans)  # no end yet: the last hop's spans may still be on their way
    spans.append(_span("task.completed", "6", "4", 45, **{"aiexec.status": "succeeded"}))
    assert finished(spans)
    assert not finished(spans[1:])  # the ingest span missing: two roots
    lines = render_tree("a" * 32, spans).splitlines()
    assert lines[0] == f"trace {'a' * 32}  6 spans, 0.055 s"
    names = [re.sub(r"^\s*[+-][\d.]+ ms\s+[\d.]+ ms  ", "", line) for line in lines[1:]]
    assert names == [
        "ingest",
        "└─ worker-openai",
        "   ├─ provider.call outcome=transient ERROR()",
        "   └─ worker-vertex",
        "      ├─ provider.call outcome=ok",
        "      └─ task.completed status=succeeded",
    ]


def test_only_the_last_entry_span_in_flight_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    """While another request is in flight the batch processor exports on its own thread; the
    last one to end exports what is queued before the instance may go idle."""
    flushes: list[int] = []
    monkeypatch.setattr(tracing, "flush", lambda: flushes.append(tracing._State.in_flight))
    with tracing.entry_span("first"):
        with tracing.entry_span("overlapping"):
            pass
        assert flushes == []  # "first" is still in flight
    assert flushes == [0]
    with tracing.entry_span("alone"):
        pass
    assert flushes == [0, 0]
    with pytest.raises(RuntimeError), tracing.entry_span("failing"):
        raise RuntimeError("the request failed")
    assert flushes == [0, 0, 0]
    assert tracing._State.in_flight == 0


def test_the_export_interval_is_the_batch_processors_schedule() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from shared.settings_tracing import TracingSettings

    saved = tracing._State.provider, tracing._State.flush_timeout_ms
    tracing._State.provider = None
    try:
        settings = TracingSettings(
            trace_exporter="otlp", trace_otlp_endpoint="http://127.0.0.1:9/v1/traces",
            trace_export_interval_s=0.25,
        )  # fmt: skip
        tracing.setup("test", settings)
        provider = tracing._State.provider
        assert isinstance(provider, TracerProvider)
        processors = provider._active_span_processor._span_processors
        batch = [p for p in processors if isinstance(p, BatchSpanProcessor)]
        assert len(batch) == 1
        assert batch[0]._batch_processor._schedule_delay == 0.25
        provider.shutdown()
    finally:
        tracing._State.provider, tracing._State.flush_timeout_ms = saved
