"""The report's lane breakdown (issue 16) against the `usage` documents, on the Firestore emulator.

Online tasks go through the production store (workload.py); batch tasks through the batch
lane's production writes: created `mode: batch`, claimed into a job (`BatchJobs.claim`), and
settled by an output line (`BatchJobs.settle` with `shared.batch.settle.answered`: the usage
document at batch prices with `online_cost_usd`, in the same commit as the task's result and the
rollups) or moved to the online lane (`settle.to_online`) and finished there by a worker. The
expected savings are summed here from the usage documents read back.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from infra.settings import Settings
from shared.batch import settle
from shared.batch.jobs import Lane
from shared.batch.provider import LineResult
from shared.firestore.batches import BatchJobs
from shared.providers.base import Completion
from shared.reports.period import iso_week
from shared.reports.render import chat_message
from shared.reports.service import ReportService
from shared.reports.tables import usd
from shared.rollups import BATCH_LANE, add_call, add_task, task_lane
from tests.reports.test_report_totals import at
from tests.reports.workload import Workload, ok

PRICED, UNPRICED = "gpt-6.1-terra", "mystery-model"  # the latter in no price table


def batch_line(
    w: Workload,
    when: datetime,
    *,
    prompt: int,
    output: int,
    model: str = PRICED,
    final_lane: str = BATCH_LANE,
) -> None:
    """A batch task submitted an hour before `when`, claimed into a job of its own and settled
    at `when` by its output line; `final_lane="online"`: the line failed, the task went online
    and a worker answered it there."""
    task_id = f"b-{prompt}-{output}-{when:%d%H%M}"
    w.now = when - timedelta(hours=1)
    request = {"task_description": "x", "mode": "batch"}
    w.store.commit_creation(w.store.creation(task_id, "team-a", request, ["openai", "vertex"]))
    jobs = BatchJobs(w.settings, w.store.client, now=lambda: w.now)
    queued = [q for q in jobs.queued_batch_tasks(100) if q.doc_id == task_id]
    job_id, lane = f"bj_{task_id}", Lane("openai", model)
    job = {"job_id": job_id, "provider": "openai", "model": model, "state": "preparing",
           "task_ids": [task_id], "task_count": 1, "created_at": w.now}  # fmt: skip
    assert list(jobs.claim(job, queued, lease_s=300)) == [task_id]
    w.now = when
    if final_lane == BATCH_LANE:
        completion = Completion("t", model, "stop", prompt, output, prompt + output)
        line = LineResult(task_id, completion)
        started = when - timedelta(minutes=30)
        settled = jobs.settle(
            task_id,
            job_id,
            lambda task: settle.answered(task, job_id, lane, line, started=started, now=when),
        )
        assert settled is not None and settled["status"] == "succeeded"
        return
    error = {"code": "batch_line_error", "message": "x"}
    moved = jobs.settle(
        task_id,
        job_id,
        lambda task: settle.to_online(
            task, job_id, lane, outcome="batch_line_error", error=error, now=when
        ),
    )
    assert moved is not None and moved["status"] == "queued"
    assert w.hop(task_id, int(moved["hop"]), "openai", [ok(PRICED)])["status"] == "succeeded"


def _by_lane(usage: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    lanes: dict[str, dict[str, float]] = {}
    for doc in usage:
        lane = lanes.setdefault(
            doc.get("lane") or "online", {"calls": 0, "tokens": 0, "cost_usd": 0.0, "saved": 0.0}
        )
        lane["calls"] += 1
        lane["tokens"] += doc["total_tokens"]
        lane["cost_usd"] += doc["cost_usd"] or 0.0
        if doc.get("lane") == BATCH_LANE and doc["cost_usd"] is not None:
            lane["saved"] += doc["online_cost_usd"] - doc["cost_usd"]
    return lanes


def test_the_lane_breakdown_equals_the_usage_documents(settings: Settings) -> None:
    w = Workload(settings)
    w.task(at("2021-11-15T09:00"), "team-a", [("openai", [ok("gpt-6.1-terra")])])
    w.task(at("2021-11-16T09:00"), "team-b", [("openai", [ok("gpt-6.2-sol", output=700)])])
    batch_line(w, at("2021-11-16T10:00"), prompt=12_000, output=3_000)
    batch_line(w, at("2021-11-17T10:00"), prompt=40_000, output=9_000)
    batch_line(w, at("2021-11-17T11:00"), prompt=700, output=100, model=UNPRICED)
    batch_line(w, at("2021-11-18T10:00"), prompt=500, output=50, final_lane="online")

    period = iso_week("2021-W46", settings.report_timezone)
    rendered = ReportService(settings).build(period)
    report = rendered.report
    usage = w.usage_docs(period.start, period.end)
    expected = _by_lane(usage)
    lanes = report["by_lane"]

    batch = lanes["batch"]
    assert (batch["tasks"], batch["succeeded"], batch["failed"]) == (3, 3, 0)
    assert lanes["online"]["tasks"] == 3  # two online tasks and the one that moved online
    for name in ("online", "batch"):
        assert lanes[name]["calls"] == expected[name]["calls"], name
        assert lanes[name]["tokens"] == expected[name]["tokens"], name
        assert lanes[name]["cost_usd"] == pytest.approx(expected[name]["cost_usd"], abs=1e-8)
    saved = expected["batch"]["saved"]
    assert saved > 0 and batch["saved_usd"] == pytest.approx(saved, abs=1e-8)
    assert lanes["online"]["saved_usd"] == 0.0
    assert sum(lane["tasks"] for lane in lanes.values()) == report["totals"]["tasks"]
    assert sum(lane["calls"] for lane in lanes.values()) == report["totals"]["calls"]

    # Every format shows it: text, Markdown, HTML, the chat message and the JSON document.
    figure = usd(batch["saved_usd"])
    for text in (rendered.text, rendered.markdown, rendered.html):
        assert "By lane" in text and figure in text
    assert f"saved ${batch['saved_usd']:.4f} vs online prices" in chat_message(report)
    assert json.loads(json.dumps(report["by_lane"])) == lanes


def test_a_week_without_batch_work_has_an_empty_batch_lane(settings: Settings) -> None:
    w = Workload(settings)
    w.task(at("2021-11-15T09:00"), "team-a", [("openai", [ok("gpt-6.1-terra")])])
    report = ReportService(settings).build(iso_week("2021-W46", settings.report_timezone)).report
    assert report["by_lane"]["batch"] == {
        "tasks": 0,
        "succeeded": 0,
        "failed": 0,
        "calls": 0,
        "tokens": 0,
        "cost_usd": 0.0,
        "saved_usd": 0.0,
    }
    assert report["by_lane"]["online"]["tasks"] == 1
    assert "Batch lane" not in chat_message(report)


def test_batch_counters_of_one_line_and_its_task() -> None:
    cell: dict[str, Any] = {}
    add_call(cell, {"lane": "batch", "total_tokens": 30, "cost_usd": 0.5, "online_cost_usd": 1.0})
    add_call(cell, {"total_tokens": 10, "cost_usd": 1.0})  # an old document: online
    add_call(cell, {"lane": "batch", "total_tokens": 5, "cost_usd": None})  # unpriced
    assert (cell["batch_calls"], cell["batch_tokens"]) == (2, 35)
    assert (cell["batch_cost_nusd"], cell["batch_saved_nusd"]) == (500_000_000, 500_000_000)
    task = {"status": "failed", "attempts": [{"lane": "batch"}]}
    add_task(cell, task, at("2021-11-15T09:00"))
    assert (cell["batch_tasks"], cell["batch_failed"]) == (1, 1)
    assert task_lane({"attempts": [{"lane": "batch"}, {"provider": "vertex"}]}) == "online"
    assert task_lane({}) == "online"
