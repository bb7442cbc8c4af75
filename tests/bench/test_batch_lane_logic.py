"""The batch lane measurement's pure logic (benchmarks/batch_lane.py): provider dollars from
the batch usage documents, how the tasks ended, its timing, and its rows beside the online
lane. No stack, no timing."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.batch import BatchRun
from benchmarks.batch_lane import _timing, job_ids, lane_shares, provider_dollars
from benchmarks.report import lane_rows, render


def _usage(cost: float | None, online: float | None) -> dict[str, Any]:
    return {"lane": "batch", "job_id": "bj_1", "cost_usd": cost, "online_cost_usd": online}


def test_provider_dollars_are_per_million_tasks_at_both_prices() -> None:
    usage = [_usage(0.0005, 0.001), _usage(0.0010, 0.002), _usage(None, None)]
    figures = provider_dollars(usage, tasks=4)  # 4 tasks: one never answered in the batch
    assert figures["usage_docs"] == 3
    assert figures["usd_provider_batch"] == pytest.approx(375.0)  # 0.0015 / 4 x 1e6
    assert figures["usd_provider_online_prices"] == pytest.approx(750.0)
    assert figures["usd_provider_saved"] == pytest.approx(375.0)
    assert figures["saved_share"] == pytest.approx(0.5)
    # a line priced in batch but not online saves nothing known: counted in the batch $ only
    partial = provider_dollars([_usage(0.001, None), _usage(0.001, 0.002)], tasks=2)
    assert (partial["usd_provider_batch"], partial["usd_provider_saved"]) == (1000.0, 500.0)
    assert provider_dollars([], tasks=10) == {"usage_docs": 0}


def test_jobs_and_how_the_tasks_ended() -> None:
    docs: dict[str, dict[str, Any]] = {
        "a": {"status": "succeeded", "result": {"lane": "batch"}, "batch": {"job_id": "bj_1"}},
        "b": {"status": "succeeded", "result": {"lane": "online"}, "batch": {"job_id": "bj_2"}},
        "c": {"status": "failed", "batch": {"job_id": "bj_2"}},
        "d": {"status": "queued"},  # never finished: neither
    }
    assert job_ids(docs) == {"bj_1", "bj_2"}
    assert lane_shares(docs) == {"answered_in_batch": 1, "moved_online": 2}


def test_the_wall_time_splits_into_submitting_and_the_lane() -> None:
    run = BatchRun(ids=["a", "b"], submitted={"a": 10.0, "b": 10.5}, seen={"a": 40.0, "b": 42.0})
    assert _timing(run, submitted=20.0, triggers=11) == {
        "submit_s": 10.0,
        "lane_s": 22.0,
        "triggers": 11,
    }
    unfinished = BatchRun(ids=["a"], submitted={"a": 1.0})
    assert _timing(unfinished, submitted=2.0, triggers=1)["lane_s"] is None


def _lane() -> dict[str, Any]:
    return {
        "tasks": 10_000,
        "jobs": 2,
        "sim_delay_s": 2.0,
        "wall_s": 300.0,
        "submit_s": 120.0,
        "lane_s": 180.0,
        "answered_in_batch": 10_000,
        "moved_online": 0,
        "firestore_reads": 2.0,
        "firestore_writes": 4.0,
        "firestore_ops": 6.0,
        "pubsub_published": 1.0,
        "pubsub_delivered": 1.0,
        "invocations": 1.0,
        "usd_infra_total": 5.0,
        "usd_provider_batch": 20.0,
        "usd_provider_online_prices": 40.0,
        "usd_provider_saved": 20.0,
    }


def test_the_lane_is_shown_beside_the_online_lane() -> None:
    online = {"tasks": 1000, "wall_s": 30.0, "firestore_ops": 9.0, "invocations": 3.0}
    cost = {"pipeline": {"usd_infra_total": 10.0, "usd_provider_tokens": 40.0}}
    rows = {r[0]: r[1:] for r in lane_rows({"pipeline_topic": online}, cost, _lane())}
    assert rows["Firestore ops per task"][:3] == ("9.0", "6.0", "0.67")
    assert rows["$ per 1M tasks: provider tokens"][:3] == ("40.0", "20.0", "0.5")
    assert rows["$ per 1M tasks: infrastructure, total"][:2] == ("10.0", "5.0")
    assert rows["$ per 1M tasks: saved by the batch lane"][1] == "20.0"
    assert rows["answered in the batch / moved online"][1] == "10000 / 0"


class _Unmeasured(dict[str, Any]):
    """Figures of a run where nothing but the batch lane matters: any other figure is None."""

    def __missing__(self, key: str) -> None:
        return None


def test_the_report_has_a_batch_lane_section_only_when_measured() -> None:
    topic = {"throughput": 30.0, "wall_s": 30.0, "tasks": 1000}
    medians: dict[str, Any] = {
        name: _Unmeasured(topic)
        for name in (
            "floor_topic", "pipeline_topic", "floor_http", "pipeline_http", "idle_floor_topic",
            "idle_pipeline_topic", "idle_floor_http", "idle_pipeline_http", "primary_down",
            "idle_primary_down", "provider_latency",
        )
    }  # fmt: skip
    cost = {
        "floor": {"billed_ms": 1.0},
        "pipeline": {"billed_ms": 2.0, "usd_infra_total": 10.0, "usd_provider_tokens": 40.0},
        "pipeline_slow_provider": {},
    }
    results = {
        "meta": {
            "options": {
                "tasks": 1000, "singles": 10, "repeat": 3, "worker_threads": 32,
                "provider_latency_ms": 800.0, "provider_jitter_ms": 200.0, "latency_tasks": 250,
            },
            "machine": "vm", "load_before": [1], "load_after": [1], "elapsed_s": 600.0,
        },
        "medians": medians,
        "cost": cost,
        "memory_mib": {},
        "batch_lane": _lane(),
    }  # fmt: skip
    text = render(results)
    assert "Batch lane, 10000 tasks once, 2 job(s)" in text
    assert "(reference: the online lane via the topic)" in text
    assert "Batch lane" not in render(results | {"batch_lane": None})
