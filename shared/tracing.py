"""One trace per task (OpenTelemetry): set-up per function, W3C propagation, the entry spans.

The context travels as W3C `traceparent` (+ `tracestate`) in Pub/Sub message attributes and
HTTP headers: `Bus.publish` adds the current one to every message, and each function's entry
span (`entry_span`) continues the trace its delivery carries. The task document keeps its
`trace_id` and `trace_context` (`task_trace`), so work that starts from the document instead of
a message (the sweeper re-publishing, the batch lane) joins the same trace (`task_span`).

Spans are batched (BatchSpanProcessor) and flushed when the process's last entry span in flight
ends: Cloud Run allocates an instance CPU while any request is in flight and throttles it once
none is, so spans still queued then might never leave. While other requests are in flight the
batch processor exports on its own thread, at most every AIEXEC_TRACE_EXPORT_INTERVAL_S, which
has the CPU: under load that is one export per interval instead of one per request (an export
per request was a fifth of ingest's CPU in `make bench`).
The tracer provider is this module's own, not the global one (nothing else records spans), and
exists even when nothing is exported: every task still gets a trace id for its logs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.settings_tracing import TracingSettings
from shared.structured_logs import configure, log

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
PREFIX = "aiexec."  # our span attributes: aiexec.task_id, aiexec.provider, ...
_PROPAGATOR = TraceContextTextMapPropagator()
logger = logging.getLogger(__name__)


class _State:
    """This process's provider (one per process, made once under the lock)."""

    lock = threading.Lock()
    provider: TracerProvider | None = None
    flush_timeout_ms = 0  # 0: nothing is exported, nothing to flush
    in_flight = 0  # entry spans open in this process


def setup(component: str, settings: TracingSettings) -> None:
    """This process's tracer provider and exporter (the first call wins; later ones, e.g. two
    functions composed in one test process, share it)."""
    with _State.lock:
        if _State.provider is not None:
            return
        sampler = ParentBased(TraceIdRatioBased(settings.trace_sample_ratio))
        provider = TracerProvider(resource=Resource({"service.name": component}), sampler=sampler)
        try:
            exporter = _exporter(settings)
        except Exception as error:  # noqa: BLE001 - tracing must never stop a function
            # e.g. no credentials for Cloud Trace, or the OTLP exporter not installed (a
            # deployed bundle holds the Cloud Trace one only): spans keep their ids, unexported.
            log(logger, logging.WARNING, "spans are not exported", reason=repr(error))
            exporter = None
        if exporter is not None:
            interval_ms = settings.trace_export_interval_s * 1000
            provider.add_span_processor(
                BatchSpanProcessor(exporter, schedule_delay_millis=interval_ms)
            )
            _State.flush_timeout_ms = int(settings.trace_export_timeout_s * 1000)
        _State.provider = provider


def _exporter(settings: TracingSettings) -> SpanExporter | None:
    """The configured exporter, imported only when used (a deployed function's requirements
    hold the Cloud Trace exporter, not the OTLP one: infra/bundles.py)."""
    if settings.trace_exporter == "cloud_trace":
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        return CloudTraceSpanExporter()  # type: ignore[no-untyped-call]
    if settings.trace_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        timeout = settings.trace_export_timeout_s
        return OTLPSpanExporter(endpoint=settings.trace_otlp_endpoint, timeout=timeout)
    return None


def tracer() -> trace.Tracer:
    """The tracer (a provider exporting nothing until `setup` ran: ids, no export)."""
    with _State.lock:
        if _State.provider is None:
            _State.provider = TracerProvider()
        return _State.provider.get_tracer("aiexec")


def flush() -> None:
    """Export every ended span now (bounded by AIEXEC_TRACE_EXPORT_TIMEOUT_S)."""
    provider = _State.provider
    if provider is not None and _State.flush_timeout_ms:
        provider.force_flush(_State.flush_timeout_ms)


# --- propagation ----------------------------------------------------------------------------


def inject(carrier: dict[str, str] | None = None) -> dict[str, str]:
    """`carrier` plus the current span's `traceparent` (and `tracestate`), if a span is active."""
    carrier = {} if carrier is None else carrier
    _PROPAGATOR.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str] | None) -> otel_context.Context | None:
    """The context a message's attributes or a request's headers carry; None if none valid."""
    if not carrier:
        return None
    lowered = {str(k).lower(): str(v) for k, v in carrier.items()}
    if TRACEPARENT not in lowered:
        return None
    found = _PROPAGATOR.extract(lowered)
    return found if trace.get_current_span(found).get_span_context().is_valid else None


def traceparent(span: Span | None = None) -> str | None:
    """The W3C `traceparent` of `span` (default: the current one), or None without one."""
    context = trace.set_span_in_context(span) if span is not None else None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier.get(TRACEPARENT)


def task_trace() -> dict[str, str]:
    """The task document's trace fields (`trace_id`, `trace_context`) from the current span;
    empty outside a span."""
    span_context = trace.get_current_span().get_span_context()
    parent = traceparent()
    if not span_context.is_valid or parent is None:
        return {}
    return {"trace_id": format(span_context.trace_id, "032x"), "trace_context": parent}


def stored_context(task: Mapping[str, Any]) -> otel_context.Context | None:
    """The context a task document stored at ingest (`trace_context`), if any."""
    value = task.get("trace_context")
    return extract({TRACEPARENT: value}) if isinstance(value, str) else None


# --- spans ------------------------------------------------------------------------------------


def attributes(**values: Any) -> dict[str, Any]:
    """`aiexec.`-prefixed span attributes, without the unset ones."""
    return {PREFIX + k: v for k, v in values.items() if v is not None}


@contextlib.contextmanager
def entry_span(
    name: str,
    carrier: Mapping[str, str] | None = None,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
    **values: Any,
) -> Iterator[Span]:
    """A function's span for one delivery or request, continuing the trace `carrier` holds (a
    new trace without one); the last one in flight exports every span before it returns (see
    the module doc)."""
    with _State.lock:
        _State.in_flight += 1
    try:
        with tracer().start_as_current_span(
            name, context=extract(carrier), kind=kind, attributes=attributes(**values)
        ) as span:
            yield span
    finally:
        with _State.lock:
            _State.in_flight -= 1
            last = _State.in_flight == 0
        if last:
            flush()


@contextlib.contextmanager
def task_span(
    task: Mapping[str, Any], name: str, *, flush_after: bool = False, **values: Any
) -> Iterator[Span]:
    """A span in the task's own trace, from the context its document stored: for work that
    starts from the document rather than from a message carrying the context (the sweeper, the
    batch lane's batcher and poller). Messages published inside carry it on."""
    parent = stored_context(task)
    values.setdefault("task_id", task.get("task_id"))
    try:
        with tracer().start_as_current_span(
            name, context=parent, attributes=attributes(**values)
        ) as span:
            yield span
    finally:
        if flush_after:
            flush()


@contextlib.contextmanager
def span(name: str, **values: Any) -> Iterator[Span]:
    """A child span of the current one."""
    with tracer().start_as_current_span(name, attributes=attributes(**values)) as current:
        yield current


def set_attributes(**values: Any) -> None:
    """Set `aiexec.` attributes on the current span (a no-op outside one)."""
    trace.get_current_span().set_attributes(attributes(**values))


def mark_error(current: Span, description: str) -> None:
    current.set_status(Status(StatusCode.ERROR, description))


def start_function(component: str, settings: TracingSettings, project: str) -> None:
    """A function's observability at start: JSON logs linked to `project`'s traces, spans
    exported as configured."""
    configure(component, project=project)
    setup(component, settings)
