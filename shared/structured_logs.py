"""Structured JSON logs in Cloud Logging's format, one object per line on stdout.

Every line carries `task_id` (null outside a task) taken from a context variable, so code deep in
the call stack does not have to pass it around, and, inside a span (shared/tracing.py), the
fields Cloud Logging links a log line to its trace with (`logging.googleapis.com/trace`,
`.../spanId`, `.../trace_sampled`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"
_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)

_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


def trace_fields(project: str | None) -> dict[str, Any]:
    """Cloud Logging's trace fields for the current span; none outside a span (or without a
    project to name the trace by)."""
    span_context = trace.get_current_span().get_span_context()
    if not project or not span_context.is_valid:
        return {}
    return {
        TRACE_FIELD: f"projects/{project}/traces/{span_context.trace_id:032x}",
        SPAN_FIELD: f"{span_context.span_id:016x}",
        SAMPLED_FIELD: span_context.trace_flags.sampled,
    }


class CloudLoggingFormatter(logging.Formatter):
    def __init__(self, component: str, project: str | None = None) -> None:
        super().__init__()
        self.component = component
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "task_id": getattr(record, "task_id", None) or _task_id.get(),
            "component": self.component,
            "logger": record.name,
        } | trace_fields(self.project)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(component: str, level: int = logging.INFO, project: str | None = None) -> None:
    """Route every logger to stdout as Cloud Logging JSON (trace fields naming `project`'s
    traces). Idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_aiexec", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter(component, project))
    handler._aiexec = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    noisy_libraries = ("urllib3", "httpx", "httpx2", "httpcore", "google", "grpc", "werkzeug")
    for noisy in (*noisy_libraries, "openai", "anthropic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def task_context(task_id: str | None) -> Iterator[None]:
    token = _task_id.set(task_id)
    try:
        yield
    finally:
        _task_id.reset(token)


def log(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log `message` with extra structured fields (never pass prompts here)."""
    logger.log(level, message, extra={"fields": fields})
