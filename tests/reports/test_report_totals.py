"""The report's numbers against the `usage` and `tasks` documents, on the Firestore emulator.

Workloads are written by the production store code (see workload.py); the report reads only
the rollups; the reference figures are summed here from the raw documents.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from infra.settings import Settings
from shared.catalog import catalog
from shared.reports.period import ReportRequest, iso_week
from shared.reports.service import ReportService
from shared.rollups import OTHER_MODEL, model_label
from shared.schemas import TaskStatus
from shared.task_leases import BeginKind, Outcome
from tests.reports.workload import Workload, fatal, group_sum, invalid, ok, transient

PARIS = "Europe/Paris"


def at(text: str, zone: str = PARIS) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def known_workload(w: Workload) -> None:
    """2021-W46 in Paris: 4 clients, 2 providers, 5 models (one unknown), retries, fallbacks,
    failures, an invalid task, a task at 23:30 on Sunday; plus 2 tasks the week before."""
    three_retries = [transient("gpt-6.1-terra")] * 3
    for minute in range(3):
        w.task(at(f"2021-11-15T09:0{minute}"), "team-a", [("openai", [ok("gpt-6.1-terra")])])
    w.task(at("2021-11-15T10:00"), "team-b", [("openai", [ok("gpt-6.2-sol", cached=300)])])
    w.task(
        at("2021-11-16T11:00"),
        "team-a",
        [("openai", [transient("gpt-6.1-terra"), ok("gpt-6.1-terra", output=800)])],
    )
    w.task(
        at("2021-11-16T12:00"),
        "team-b",
        [("openai", [fatal("gpt-6.2-sol")]), ("vertex", [ok("gemini-3.8-flash")])],
        fallback=True,
    )
    w.task(
        at("2021-11-17T08:00"),
        "team-c",
        [("vertex", [ok("gemini-4-argon", reasoning=150, output=400)])],
        chain=["vertex", "openai"],
    )
    w.task(
        at("2021-11-17T15:00"),
        "team-a",
        [("openai", three_retries), ("vertex", [transient("gemini-3.8-flash")] * 3)],
        fallback=True,
    )
    w.task(at("2021-11-18T09:00"), "team-b", [("openai", [invalid("gpt-6.1-terra")])])
    w.task(at("2021-11-18T10:00"), "team-c", [("openai", [ok("mystery-model")])])
    w.task(
        at("2021-11-19T16:00"),
        "",  # a task without a client id still counts, under "(none)"
        [("openai", three_retries), ("vertex", [ok("gemini-3.8-flash", output=50)])],
        fallback=True,
    )
    w.task(at("2021-11-21T23:29:50"), "team-a", [("openai", [ok("gpt-6.1-terra")])])


def previous_week(w: Workload) -> None:
    for hour in ("09", "10"):
        w.task(at(f"2021-11-10T{hour}:00"), "team-a", [("openai", [ok("gpt-6.1-terra")])])


@pytest.fixture
def paris(settings: Settings) -> Settings:
    return settings.model_copy(update={"report_timezone": PARIS})


def test_known_workload_totals_equal_the_usage_documents_to_the_cent(paris: Settings) -> None:
    w = Workload(paris)
    previous_week(w)
    w.expected = type(w.expected)()  # count this week's tasks only
    known_workload(w)
    for task_id in w.expected.task_ids[:3]:  # late duplicate deliveries change nothing
        assert w.duplicate_delivery(task_id, "openai") is BeginKind.TERMINAL
    w.task(at("2021-11-22T00:30"), "team-a", [("openai", [ok("gpt-6.2-sol")])])  # next week

    period = iso_week("2021-W46", PARIS)
    report = ReportService(paris).build(period).report
    usage = w.usage_docs(period.start, period.end)
    tasks = w.terminal_tasks(period.start, period.end)
    totals = report["totals"]

    priced = sum(d["cost_usd"] for d in usage if d["cost_usd"] is not None)
    assert round(totals["cost_usd"], 2) == round(priced, 2)
    assert totals["cost_usd"] == pytest.approx(priced, abs=1e-8)  # far finer than a cent
    assert totals["calls"] == len(usage) == 22
    assert totals["tokens"] == sum(d["total_tokens"] for d in usage)
    for category in ("prompt", "completion", "cached", "reasoning"):
        reference = sum(d[f"{category}_tokens"] for d in usage)
        assert totals["tokens_by_category"][category] == reference, category
    assert totals["failed_calls"] == sum(d["outcome"] != "ok" for d in usage)
    assert totals["unpriced_calls"] == 1
    assert (totals["tasks"], totals["succeeded"], totals["failed"]) == (
        len(tasks),
        sum(t["status"] == "succeeded" for t in tasks),
        sum(t["status"] == "failed" for t in tasks),
    )
    expected = w.expected
    assert (totals["tasks"], totals["succeeded"], totals["failed"]) == (
        expected.tasks - 1,  # minus the one of next week
        expected.succeeded - 1,
        expected.failed,
    )
    assert totals["fallbacks"] == expected.fallbacks == 3
    assert totals["fallback_rate"] == pytest.approx(3 / totals["tasks"], abs=1e-4)
    _check_breakdowns(report, usage, paris)
    _check_shape(report, paris)


def _check_breakdowns(
    report: dict[str, Any], usage: list[dict[str, Any]], settings: Settings
) -> None:
    dimensions = {
        "by_provider": lambda d: d["provider"],
        # Rollups count a model by its label: the catalog id, else (other) (shared/rollups.py).
        "by_model": lambda d: model_label(settings, d["provider"], d["model"]),
        "by_client": lambda d: d["client_id"] or "(none)",
    }
    for section, key in dimensions.items():
        reference = group_sum(usage, key)
        assert set(report[section]) == set(reference), section
        for name, sums in reference.items():
            row = report[section][name]
            assert row["calls"] == sums["calls"], (section, name)
            assert row["tokens"] == sums["tokens"], (section, name)
            assert row["cost_usd"] == pytest.approx(sums["cost_usd"], abs=1e-8), (section, name)
            assert row["unpriced_calls"] == sums["unpriced_calls"], (section, name)
    by_day = report["by_day"]
    assert list(by_day) == [f"2021-11-{day}" for day in range(15, 22)]
    assert sum(d["tasks"] for d in by_day.values()) == report["totals"]["tasks"]
    assert sum(d["calls"] for d in by_day.values()) == report["totals"]["calls"]
    assert by_day["2021-11-21"]["tasks"] == 1  # Sunday 23:30 in Paris is in this week
    assert by_day["2021-11-20"]["tasks"] == 0


def _check_shape(report: dict[str, Any], settings: Settings) -> None:
    assert report["id"] == report["week"] == "2021-W46"
    # The exact name is on the usage document; the rollup (a field name) holds only a label.
    assert report["unknown_models"] == [{"provider": "openai", "model": OTHER_MODEL, "calls": 1}]
    assert any(f"counted as {OTHER_MODEL}" in note for note in report["notes"])
    assert report["source"]["missed"] == {"calls": 0, "tasks": 0, "retractions": 0}
    failures = {
        (f["scope"], f["provider"], f["reason"]): f["count"] for f in report["top_failures"]
    }
    assert failures[("call", "openai", "unavailable")] == 7
    assert failures[("call", "vertex", "unavailable")] == 3
    assert failures[("call", "openai", "model_not_found")] == 1
    assert failures[("call", "openai", "context_too_long")] == 1
    assert failures[("task", None, "all_providers_failed")] == 1
    assert failures[("task", None, "invalid_task")] == 1
    assert report["top_failures"][0]["count"] == 7  # most frequent first
    latency = report["latency"]
    assert latency["p50_ms"] is not None and latency["p50_ms"] <= latency["p95_ms"]
    assert report["previous"]["totals"]["tasks"] == 2
    assert report["change"]["tasks"]["previous"] == 2
    assert report["change"]["tasks"]["delta"] == report["totals"]["tasks"] - 2
    # Rollups, not raw usage: bounded by days x shards for both weeks.
    assert 0 < report["source"]["documents_read"] <= 2 * 7 * settings.rollup_shards
    assert report["price_version"] == catalog().version


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_sunday_2330_local_falls_in_its_week_in_the_report_zone(
    settings: Settings, zone: str
) -> None:
    local = settings.model_copy(update={"report_timezone": zone})
    w = Workload(local)
    w.task(at("2021-11-21T23:29:50", zone), "c", [("openai", [ok("gpt-6.1-terra")])])
    w.task(at("2021-11-22T00:30", zone), "c", [("openai", [ok("gpt-6.1-terra")])])
    w.task(at("2021-11-15T00:00:01", zone), "c", [("openai", [ok("gpt-6.1-terra")])])
    service = ReportService(local)
    w46 = service.build(iso_week("2021-W46", zone)).report
    w47 = service.build(iso_week("2021-W47", zone)).report
    assert (w46["totals"]["tasks"], w46["totals"]["calls"]) == (2, 2)
    assert (w47["totals"]["tasks"], w47["totals"]["calls"]) == (1, 1)
    assert w46["by_day"]["2021-11-21"]["tasks"] == 1
    assert w46["by_day"]["2021-11-15"]["tasks"] == 1
    assert w47["by_day"]["2021-11-22"]["tasks"] == 1


def test_an_empty_week_is_a_report_of_zeros(settings: Settings) -> None:
    service = ReportService(settings)
    service.run(ReportRequest(iso_week("2021-W46", "UTC")))
    service.run(ReportRequest(iso_week("2021-W46", "UTC")))
    reports = list(service.client.collection(settings.collection_reports).stream())
    assert [r.id for r in reports] == ["2021-W46"]  # twice → one report
    report = reports[0].to_dict() or {}
    assert report["runs"] == 2
    totals = report["totals"]
    assert (totals["tasks"], totals["calls"], totals["tokens"], totals["cost_usd"]) == (0, 0, 0, 0)
    assert totals["fallback_rate"] == 0.0 and report["latency"]["p50_ms"] is None
    assert len(report["by_day"]) == 7 and not report["by_provider"]
    assert report["top_failures"] == [] and report["notes"] == []
    assert "no activity" in report["markdown"]
    files = reports[0].reference.collection("files").stream()
    assert sorted(f.id for f in files) == ["chart.png", "report.html", "report.md", "report.txt"]


@pytest.mark.parametrize("allowed", [False, True], ids=["unknown", "operator-allowed"])
def test_a_week_with_only_an_unknown_model(settings: Settings, allowed: bool) -> None:
    """A model the catalog does not price: counted under its own name when the operator allowed
    it (AIEXEC_ALLOWED_MODELS), else as (other); unpriced either way."""
    local = settings.model_copy(update={"allowed_models": ["openai:gpt-99"] if allowed else []})
    workload = Workload(local)
    for day in (15, 16):
        workload.task(at(f"2021-11-{day}T10:00", "UTC"), "c", [("openai", [ok("gpt-99")])])
    [usage, _] = workload.usage_docs(at("2021-11-15T00:00", "UTC"), at("2021-11-22T00:00", "UTC"))
    assert usage["cost_usd"] is None and usage["price_version"] == catalog().version
    assert usage["model"] == "gpt-99"  # the exact name, on the per-call document
    report = ReportService(local).build(iso_week("2021-W46", "UTC")).report
    totals = report["totals"]
    assert (totals["tasks"], totals["calls"], totals["cost_usd"]) == (2, 2, 0.0)
    assert totals["unpriced_calls"] == 2 and totals["tokens"] == 2 * 1200
    label = "gpt-99" if allowed else OTHER_MODEL
    assert report["by_model"][label]["unpriced_calls"] == 2
    assert report["unknown_models"] == [{"provider": "openai", "model": label, "calls": 2}]
    assert "no price" in report["notes"][0]


def test_rollups_are_written_with_the_usage_documents_or_not_at_all(
    settings: Settings, workload: Workload
) -> None:
    """A redelivered write of a usage document that exists fails, rollup increments included."""
    task_id = workload.task(at("2021-11-16T10:00", "UTC"), "c", [("openai", [ok("gpt-6.2-sol")])])
    store = workload.store
    usage_ref = store.usage_ref(task_id, 1)
    usage = usage_ref.get().to_dict()
    week = iso_week("2021-W46", "UTC")
    before = ReportService(settings).build(week).report["totals"]

    @firestore.transactional
    def replay(txn: Any) -> None:
        txn.create(usage_ref, usage)
        store.rollups.record(txn, store.client, [usage], None, usage["created_at"])

    with pytest.raises((gexc.AlreadyExists, gexc.Conflict)):
        replay(store.client.transaction())
    after = ReportService(settings).build(week).report["totals"]
    assert after == before
    assert (after["calls"], after["tasks"]) == (1, 1)


def test_a_delivery_that_lost_its_lease_still_counts_its_calls_once(
    settings: Settings, workload: Workload
) -> None:
    """Two deliveries of one task: both calls were made (and billed), the task finishes once."""
    w, store = workload, workload.store
    w.now = at("2021-11-17T10:00", "UTC")
    store.commit_creation(
        store.creation("lease-1", "c", {"task_description": "x"}, ["openai", "vertex"])
    )
    lease = store.begin("lease-1", 0, "openai", "slow")
    assert lease.kind is BeginKind.START
    slow_calls = w.calls("openai", [ok("gpt-6.1-terra")])
    w.now += timedelta(seconds=settings.lease_seconds("openai") + 1)  # the lease runs out
    assert w.hop("lease-1", 0, "openai", [ok("gpt-6.1-terra")])["status"] == "succeeded"
    result = {"text": "t", "provider": "openai", "model": "gpt-6.1-terra"}
    outcome = Outcome(TaskStatus.SUCCEEDED, result)
    late = store.finish("lease-1", "slow", slow_calls, outcome, lease=lease)
    assert late is None  # its calls are recorded, the outcome is not
    report = ReportService(settings).build(iso_week("2021-W46", "UTC")).report
    usage = w.usage_docs(at("2021-11-15T00:00", "UTC"), at("2021-11-22T00:00", "UTC"))
    assert report["totals"]["calls"] == len(usage) == 2
    assert (report["totals"]["tasks"], report["totals"]["succeeded"]) == (1, 1)


def test_a_replayed_task_is_counted_once_in_its_final_outcome(
    settings: Settings, workload: Workload
) -> None:
    w = workload
    task_id = w.task(at("2021-11-16T10:00", "UTC"), "c", [("openai", [invalid("gpt-6.1-terra")])])
    week = iso_week("2021-W46", "UTC")
    failed = ReportService(settings).build(week).report["totals"]
    assert (failed["tasks"], failed["failed"]) == (1, 1)
    w.now = at("2021-11-18T09:00", "UTC")
    assert w.store.replay(task_id) is not None  # an operator replays the failed task
    assert w.hop(task_id, 0, "openai", [ok("gpt-6.1-terra")])["status"] == "succeeded"
    totals = ReportService(settings).build(week).report
    assert (totals["totals"]["tasks"], totals["totals"]["succeeded"]) == (1, 1)
    assert (totals["totals"]["failed"], totals["totals"]["calls"]) == (0, 2)
    assert totals["by_day"]["2021-11-16"]["tasks"] == 0
    assert totals["by_day"]["2021-11-18"]["tasks"] == 1
    assert [f["reason"] for f in totals["top_failures"]] == ["context_too_long"]  # the call
