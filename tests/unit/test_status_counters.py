"""The status page's HTML and counters, without a stack: everything from data is escaped, the
CSP allows the page's own style and nothing else, and the counters add and rank as documented.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from shared.status_counts import (
    STATUS_HOURS,
    StatusSnapshot,
    duration_bucket,
    finished_fields,
    hour_key,
    window_hours,
)
from shared.status_data import StatusView
from shared.status_page import CSP, HEADERS, render_status

NOW = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
EVIL = '<script>alert("x")</script>'


def view(**overrides: object) -> StatusView:
    tasks = StatusSnapshot()
    tasks.finished["succeeded"][EVIL] = 2
    tasks.in_flight = {"queued": 1, "batched": 0, "running": 2}
    tasks.slowest = [
        {
            "task_id": EVIL,
            "status": "succeeded",
            "provider": EVIL,
            "model": EVIL,
            "ms": 1500.0,
            "trace_url": "javascript:alert(1)",
        },
        {"task_id": "t-2", "status": "failed", "provider": "openai", "model": "m", "ms": 900.0}
        | {"trace_url": "https://example.test/traces/abc?x=1&y=2"},
    ]
    fields = {
        "generated_at": NOW,
        "version": EVIL,
        "tasks": tasks,
        "circuits": {EVIL: {"state": EVIL, "failures": 1, "opened_at": None}},
        "cost_by_day": {
            date(2026, 11, 29): {EVIL: 0.5, "(none)": 0.0},
            date(2026, 11, 30): {"openai": 0.25},
        },
        "timezone": "UTC",
        "documents_read": 3,
    }
    return StatusView(**(fields | overrides))  # type: ignore[arg-type]


def test_everything_from_data_is_escaped_and_no_script_runs() -> None:
    page = render_status(view())
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "javascript:" not in page  # a link that is not http(s) is no link
    assert 'href="https://example.test/traces/abc?x=1&amp;y=2"' in page
    assert 'id="tasks-running">2<' in page and 'id="backlog">3<' in page
    assert 'id="cost-today">$0.250000<' in page and 'id="cost-week">$0.750000<' in page
    assert "(none)" not in page  # nothing spent: not in the chart's legend


def test_the_csp_allows_the_page_style_by_its_hash_and_nothing_else() -> None:
    page = render_status(view())
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in CSP
    assert "default-src 'none'" in CSP and "script-src" not in CSP
    assert HEADERS["Content-Security-Policy"] == CSP


def test_a_capped_count_says_at_least() -> None:
    page = render_status(view(in_flight_cap=2))
    assert 'id="tasks-running">≥ 2<' in page and 'id="tasks-queued">1<' in page


def test_window_hours_cross_midnight() -> None:
    hours = window_hours(NOW)
    assert len(hours) == 24
    assert hours[0] == "2026-11-29T01" and hours[-1] == "2026-11-30T00"


def test_a_finished_task_adds_its_hour_and_a_slow_record() -> None:
    task = {
        "task_id": "t",
        "status": "failed",
        "client_id": "acme",
        "created_at": NOW - timedelta(seconds=3),
        "trace_id": "a" * 32,
    }
    added = finished_fields(task, NOW, ("openai", "gpt"), "2026-11-30")
    assert added is not None
    assert added.counters == {STATUS_HOURS: {"2026-11-30T00": {"failed": {"openai": 1}}}}
    entry = added.sets["slowest"]["2026-11-30T00"][duration_bucket(3000)]
    assert (entry["ms"], entry["trace_id"], entry["client_id"]) == (3000.0, "a" * 32, "acme")
    taken_back = finished_fields(task, NOW, ("openai", "gpt"), "2026-11-30", sign=-1)
    assert taken_back is not None and taken_back.sets == {}
    assert finished_fields(task | {"status": "running"}, NOW, ("", ""), "d") is None
    # The task's own end when it has one (a batch line's settle time precedes its commit).
    ended = finished_fields(
        task | {"completed_at": NOW - timedelta(seconds=1)}, NOW, ("o", "m"), "d"
    )
    assert ended is not None
    assert ended.sets["slowest"]["2026-11-30T00"][duration_bucket(2000)]["ms"] == 2000.0


def test_the_snapshot_keeps_the_window_and_ranks_the_slowest() -> None:
    inside, outside = hour_key(NOW), hour_key(NOW - timedelta(hours=30))
    doc = {
        STATUS_HOURS: {inside: {"succeeded": {"openai": 2}}, outside: {"failed": {"x": 9}}},
        "slowest": {
            inside: {"3": {"task_id": "a", "ms": 10.0}, "9": {"task_id": "b", "ms": 600.0}},
            outside: {"12": {"task_id": "old", "ms": 5000.0}},
        },
    }
    snapshot = StatusSnapshot()
    snapshot.add_document(doc, set(window_hours(NOW)))
    snapshot.rank_slowest()
    assert snapshot.finished["succeeded"] == Counter({"openai": 2})
    assert snapshot.total("failed") == 0
    assert [entry["task_id"] for entry in snapshot.slowest] == ["b", "a"]
    assert duration_bucket(0.2) == "0" and duration_bucket(1024) == "10"
