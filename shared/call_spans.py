"""The spans of a worker's hop that describe provider calls: one per call (attributes as in the
design: provider, model, attempt, outcome, tokens), and the pauses between retries."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from opentelemetry.trace import Span, SpanKind

from shared import tracing
from shared.usage import CallRecord

CALL_SPAN = "provider.call"
BACKOFF_SPAN = "retry.backoff"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime) -> int:
    """Nanoseconds since the epoch, exactly (a float timestamp loses the microseconds)."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def record_call(record: CallRecord, attempt: int) -> None:
    """A span for a call already made, timed by its record (so the worker's call loop stays as
    it is): an error status for a failed call, the outcome and code as attributes."""
    error = record.error or {}
    values = tracing.attributes(
        provider=record.provider,
        model=record.model,
        attempt=attempt,
        outcome=record.outcome,
        error_code=error.get("code"),
        latency_ms=record.latency_ms,
        **{k: v for k, v in record.tokens.items() if v is not None},
    )
    span = tracing.tracer().start_span(
        CALL_SPAN, kind=SpanKind.CLIENT, attributes=values, start_time=_ns(record.started_at)
    )
    if record.outcome != "ok":
        tracing.mark_error(span, str(error.get("code") or record.outcome))
    span.end(end_time=_ns(record.ended_at))


def backoff(seconds: float, attempt: int) -> AbstractContextManager[Span]:
    """The span of the pause before retry `attempt + 1`."""
    return tracing.span(BACKOFF_SPAN, backoff_s=round(seconds, 3), attempt=attempt)
