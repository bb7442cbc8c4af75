"""Log-based metric filters evaluated on log lines, as Cloud Logging would: which lines a
metric counts, and that each has the fields the metric extracts (tests/deploy/test_monitoring.py
and tests/integration/test_budget_lines.py on lines emitted in process,
tests/e2e/test_metric_lines.py on the local stack's logs)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import operator
import re
from collections.abc import Callable, Iterator
from typing import Any

from infra.deploy.monitoring import LOG_METRICS, LogMetric
from shared.structured_logs import CloudLoggingFormatter

_TERM = re.compile(r'^([\w.]+)\s*(!=|>=|<=|=|>|<)\s*("(?:[^"\\]|\\.)*"|[\w.]+)$')
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le,
    ">": operator.gt, "<": operator.lt,
}  # fmt: skip


def matches(log_filter: str, entry: dict[str, Any]) -> bool:
    """The Logging query language as these filters use it: terms joined by AND, each a field
    path compared with a quoted string or a number (a missing field matches no comparison)."""
    for term in log_filter.split(" AND "):
        found = _TERM.match(term.strip())
        assert found, f"not a term this check reads: {term!r}"
        path, op, raw = found.groups()
        value: Any = entry
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return False
        wanted: Any = json.loads(raw) if raw.startswith('"') else float(raw)
        if isinstance(wanted, float) and not isinstance(value, (int, float)):
            return False
        if isinstance(wanted, str):
            value = str(value)
        if not _OPS[op](value, wanted):
            return False
    return True


def as_entry(line: dict[str, Any]) -> dict[str, Any]:
    """A function's stdout JSON line as Cloud Logging stores it: the line is the jsonPayload,
    the resource the function's Cloud Run revision."""
    return {"resource": {"type": "cloud_run_revision"}, "jsonPayload": line}


@contextlib.contextmanager
def captured_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the code logs meanwhile (the functions' formatter), as entries."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(CloudLoggingFormatter("test"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def entries() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
        return [as_entry(line) for line in lines]

    try:
        yield entries
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def counted(metric: LogMetric, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines `metric` counts, after checking each has every field the metric extracts."""
    hits = [e["jsonPayload"] for e in entries if matches(metric.filter, e)]
    for line in hits:
        for label in metric.labels:
            assert isinstance(line.get(label), str), (metric.name, label, line)
        if metric.value_field:
            assert isinstance(line.get(metric.value_field), (int, float)), (metric.name, line)
    return hits


def metric(name: str) -> LogMetric:
    return next(m for m in LOG_METRICS if m.name == name)
