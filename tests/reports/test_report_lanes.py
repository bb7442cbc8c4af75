"""The report's lane breakdown (issue 16) against the `usage` documents, on the Firestore emulator.

Online tasks go through the production store (workload.py). A batch line is committed the way
the finishing path commits one: its usage document (`lane: "batch"`, `job_id`, batch-priced
`cost_usd` and `online_cost_usd`) created in the same commit as the rollup update that counts it
and its task. The expected savings are summed here from the usage documents read back.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from infra.settings import Settings
from shared.firestore.usage import UsageDocuments
from shared.providers.base import Completion
from shared.reports.period import iso_week
from shared.reports.render import chat_message
from shared.reports.service import ReportService
from shared.reports.tables import usd
from shared.rollups import BATCH_LANE, Rollups, add_call, add_task, task_lane
from shared.usage import CallRecord
from tests.reports.test_report_totals import at
from tests.reports.workload import Workload, ok

JOB = "bj_0123456789abcdef"


def batch_line(
    w: Workload,
    when: datetime,
    *,
    prompt: int,
    output: int,
    priced: bool = True,
    final_lane: str = BATCH_LANE,
) -> None:
    """One output line of a batch job finishing its task: usage document + rollups, one commit.
    `final_lane="online"`: the line failed and the task then finished in the online lane."""
    task_id = f"b-{prompt}-{output}-{when:%d%H%M}"
    completion = Completion("t", "gpt-6.1-terra", "stop", prompt, output, prompt + output)
    record = CallRecord.success("openai", "gpt-6.1-terra", when, when, completion)
    online = record.cost_usd if priced else None
    usage = record.usage_document(task_id, "team-a", 1) | {
        "lane": BATCH_LANE,
        "job_id": JOB,
        "cost_usd": None if online is None else round(online / 2, 10),  # half price
        "online_cost_usd": online,
    }
    attempt = {"provider": "openai", "model": "gpt-6.1-terra", "lane": BATCH_LANE, "job_id": JOB}
    attempts = [attempt] if final_lane == BATCH_LANE else [attempt, {"provider": "openai"}]
    task = {
        "task_id": task_id,
        "client_id": "team-a",
        "status": "succeeded",
        "chain": ["openai", "vertex"],
        "result": {"provider": "openai", "model": "gpt-6.1-terra"},
        "attempts": attempts,
        "created_at": when - timedelta(hours=1),
    }
    client = w.store.client
    writer = client.batch()
    UsageDocuments(w.settings, lambda: client).stage_create(writer, task_id, 1, usage)
    Rollups(w.settings).record(writer, client, [usage], task, when)
    writer.commit()


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
    batch_line(w, at("2021-11-17T11:00"), prompt=700, output=100, priced=False)
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
