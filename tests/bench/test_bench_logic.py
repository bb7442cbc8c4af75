"""The benchmark's pure logic: the peer's figures, the hottest document, ingest acceptance, the
side-by-side table and the shard counts derived from the peak. No stack, no timing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.batch import BatchRun
from benchmarks.hotdoc import at_peak, doc_writes, hot_figures, per_client
from benchmarks.peer import PeerRun, expected_calls, first_answers, peer_figures, read_answers
from benchmarks.report import peer_rows
from benchmarks.run import paired_primary_down, peer_summary
from benchmarks.scenarios import submit_figures
from infra.settings import Settings
from shared import opcount
from shared.settings_core import shard_counts


def _answer(
    task_id: str, ended: float, provider: str = "openai", ok: bool = True
) -> dict[str, Any]:
    return {"task_id": task_id, "started": 0.0, "ended": ended, "ok": ok, "provider": provider}


def test_peer_figures_healthy() -> None:
    run = PeerRun(ids=["a", "b", "c", "d"], submitted_at=100.0, provider_calls=4)
    run.answers = {i: _answer(i, 100.0 + n + 1) for n, i in enumerate(run.ids)}
    f = peer_figures(run, "openai")
    assert (f["succeeded"], f["failed"], f["lost"]) == (4, 0, 0)
    assert f["wall_s"] == 4.0
    assert f["throughput"] == 1.0
    assert f["client_p50_ms"] == 2000.0
    assert f["duplicate_calls"] == 0
    assert f["fallback_rate"] == 0.0
    assert "lost_without_resubmit" not in f


def test_peer_figures_crash_counts_resubmission_and_duplicates() -> None:
    run = PeerRun(ids=["a", "b", "c", "d"], submitted_at=0.0, provider_calls=6)
    run.answered_before_kill = 2  # the caller re-submitted c and d; 2 calls were in flight
    run.restart_s = 3.0
    run.answers = {i: _answer(i, 1.0 + n) for n, i in enumerate(run.ids)}
    f = peer_figures(run, "openai")
    assert f["lost"] == 0
    assert f["lost_without_resubmit"] == 2
    assert f["duplicate_calls"] == 2
    assert f["restart_s"] == 3.0


def test_peer_figures_lost_has_no_throughput() -> None:
    run = PeerRun(ids=["a", "b"], submitted_at=0.0, provider_calls=1)
    run.answers = {"a": _answer("a", 1.0)}
    f = peer_figures(run, "openai")
    assert f["lost"] == 1
    assert f["throughput"] is None


def test_expected_calls_counts_fallbacks_twice() -> None:
    answers = [_answer("a", 1, "openai"), _answer("b", 1, "gemini"), _answer("c", 1, "vertex")]
    assert expected_calls(answers, "openai") == 5


def test_answers_survive_a_cut_line_and_keep_the_first(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    lines = [json.dumps(_answer("a", 1.0)), json.dumps(_answer("a", 2.0)), '{"task_id": "b", "en']
    path.write_text("\n".join(lines))
    answers = first_answers(read_answers(path))
    assert list(answers) == ["a"]
    assert answers["a"]["ended"] == 1.0
    assert read_answers(tmp_path / "missing") == []


def test_hottest_document_summed_over_components_and_scaled() -> None:
    counts = {
        "worker-openai": Counter(
            {"doc.rollups/2026-11-30-03": 30, "firestore.writes.rollups": 600}
        ),
        "worker-vertex": Counter(
            {
                "doc.rollups/2026-11-30-03": 10,
                "doc.circuits/openai": 12,
                "firestore.writes.rollups": 400,
            }
        ),
        "ingest": Counter({"doc.budgets/c:2026-11:01": 0}),
    }
    assert doc_writes(counts) == Counter({"rollups/2026-11-30-03": 40, "circuits/openai": 12})
    f = hot_figures(counts, tasks=1000, wall_s=20.0)
    assert f["hot_doc"] == "rollups/2026-11-30-03"
    assert f["hot_doc_writes_per_s"] == 2.0
    assert f["hot_doc_writes_per_task"] == 0.04
    assert f["hot_doc_writes_per_s_at_target"] == 40.0
    # 1 rollup write per task over 1,250 shards once AIEXEC_PEAK_TASKS_PER_S=1000
    assert f["hot_doc_family_writes_per_task"] == 1.0
    assert f["hot_doc_writes_per_s_at_target_peak"] == pytest.approx(0.8)
    assert f["hot_docs_by_collection"]["circuits"] == ["circuits/openai", 0.012]
    assert at_peak("circuits", 5.0, 0.012, 1000) == 12.0  # not sharded by the peak
    assert hot_figures({}, tasks=10, wall_s=1.0)["hot_doc"] is None


def test_one_client_at_the_target_rate_keeps_its_ingest_shards_under_1_write_per_s() -> None:
    from benchmarks.report import client_rows

    f = hot_figures({}, tasks=10, wall_s=1.0)  # the ingest side is arithmetic: always there
    assert f["client_tasks_per_s"] == 1000
    assert f["client_budget_shards"] == 1250  # ceil(1000 / 0.8), from its rate limit
    assert f["client_budget_writes_per_s_per_shard"] == 0.8
    # Rate limit 1000/s: leases of 250 tokens (0.25 s), 4 shards, one lease write/s each.
    assert f["client_ratelimit_shards"] == 4
    assert f["client_ratelimit_writes_per_s_per_shard"] == 1.0
    rows = client_rows(f)
    assert [r[0] for r in rows] == [
        "one client at 1000 tasks/s (= its rate limit)",
        "  writes/s per rate-limit shard (4 shards)",
        "  writes/s per budget shard (1250 shards)",
    ]
    assert all(r[4].endswith("met") for r in rows[1:])
    assert per_client(10)["client_budget_shards"] == 13


def test_opcount_shows_only_documents_written_often(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud.firestore_v1.types import Document, Write

    monkeypatch.setattr(opcount, "_counts", Counter())
    monkeypatch.setattr(opcount, "_doc_writes", Counter())
    monkeypatch.setattr(opcount, "_hot_docs", set())
    root = "projects/p/databases/(default)/documents/"

    def write(path: str) -> Write:
        return Write(update=Document(name=root + path))

    commit = opcount._counted_commit(lambda **_: None)
    for _ in range(opcount.HOT_DOC_MIN_WRITES):
        commit(request={"writes": [write("rollups/d-01")]})
    for _ in range(3):
        commit(request={"writes": [write("tasks/a")]})
    snap = opcount.snapshot()
    assert snap.get("doc.rollups/d-01") == opcount.HOT_DOC_MIN_WRITES
    assert "doc.tasks/a" not in snap
    assert snap["firestore.writes.rollups"] == opcount.HOT_DOC_MIN_WRITES
    assert opcount.document_of("projects/p/databases/(default)/documents/x/y") == "x/y"


def test_submit_figures_http_only() -> None:
    run = BatchRun(ids=["a", "b", "c", "d"], accept_ms=[1.0, 2.0, 3.0, 4.0], submit_span_s=2.0)
    f = submit_figures(run, "http")
    assert f["accepted_per_s"] == 2.0
    assert f["accept_p50_ms"] == 2.0
    assert f["accept_p99_ms"] == 4.0
    assert submit_figures(run, "topic") == {}


def test_side_by_side_table_and_ratios() -> None:
    medians = {
        "pipeline_topic": {"throughput": 20.0, "client_p50_ms": 900.0, "lost": 0},
        "peer_healthy": {"throughput": 40.0, "client_p50_ms": 300.0, "lost": 0},
        "primary_down": {"throughput": 18.0, "lost": 0},
        "peer_down": {"throughput": 9.0, "lost": 0},
    }
    crash = {"pipeline": {"throughput": 10.0, "lost": 0, "lost_without_resubmit": 0}}
    summary = peer_summary(medians, crash)
    assert summary["healthy"]["throughput"] == {"pipeline": 20.0, "peer": 40.0, "ratio": 0.5}
    assert summary["primary_down"]["throughput"]["ratio"] == 2.0
    assert "crash" not in summary  # no peer figures: no row
    rows = peer_rows(summary)
    labels = [r[0] for r in rows]
    assert "healthy: throughput (tasks/s)" in labels
    lost = next(r for r in rows if r[0] == "healthy: lost (never answered)")
    assert lost[3] == "-"  # counts get no ratio


def test_shard_counts_follow_the_peak() -> None:
    assert shard_counts(16) == {"rollup_shards": 20, "budget_shards": 20}
    assert shard_counts(1000) == {"rollup_shards": 1250, "budget_shards": 1250}
    assert shard_counts(0.5) == {"rollup_shards": 1, "budget_shards": 1}
    assert Settings(peak_tasks_per_s=100).rollup_shards == 125
    assert Settings(peak_tasks_per_s=100, rollup_shards=7).rollup_shards == 7  # explicit wins
    assert Settings(peak_tasks_per_s=100).budget_shards == 125


def _results() -> dict[str, Any]:
    topic = {
        "firestore_reads": 1.0,
        "firestore_reads_circuits": 0.01,
        "firestore_writes": 5.0,
        "firestore_writes_by_collection": {"tasks": 3.0, "usage": 1.0, "rollups": 1.0},
        "pubsub_published": 3.0,
        "pubsub_delivered": 3.0,
        "pubsub_bytes_per_message": 200.0,
        "invocations": 2.0,
        "cpu_ms_functions": 10.0,
        "provider_calls": 1.0,
        "provider_tokens_per_task": 70.0,
        "hot_doc": "rollups/2026-11-30-03",
        "hot_doc_writes_per_task": 1 / 16,
    }
    return {
        "meta": {
            "date": "2026-11-30",
            "git": "abc",
            "machine": "vm: 2 CPUs, 23.5 GiB",
            "load_before": [1.0, 1.0, 1.0],
            "options": {"provider_latency_ms": 800.0, "worker_threads": 32},
        },
        "medians": {"pipeline_topic": topic, "pipeline_http": {"accepted_per_s": 250.0}},
        "cost": {"pipeline": {"usd_infra_total": 10.0, "usd_provider_tokens": 40.0}},
        "memory_mib": {"ingest": {"max_mib": 90.0}, "worker-openai": {"max_mib": 400.0}},
        "primary": "openai",
    }


def test_scaling_plan_is_the_per_task_figures_times_the_rate() -> None:
    from benchmarks.scaling import memory_tier, plan, render

    p = plan(_results(), 1000)
    assert p["worker_instances"] == 25  # 1000 x 0.8 s in flight / 32 per instance
    assert p["ingest_instances"] == 4
    assert p["writes_per_s"] == 5000
    assert p["tasks_writes_per_s"] == 3000
    assert p["hot_default_shards"] == pytest.approx(62.5)
    assert p["hot_peak_shards"] == pytest.approx(0.8)  # 1,250 rollup shards at peak 1000
    assert p["rpm"] == 60_000
    assert p["tpm"] == 4_200_000
    assert p["infra_usd_day"] == pytest.approx(864.0)
    assert p["provider_usd_day"] == pytest.approx(3456.0)
    assert memory_tier(400.0) == 1024
    assert p["client"]["client_budget_writes_per_s_per_shard"] == 0.8
    text = render(_results())
    assert "| 10 tasks/s | 100 tasks/s | 1,000 tasks/s |" in text
    assert "1.00 (4 shards) / 0.80 (1,250 shards)" in text


def test_primary_down_is_paired_with_the_healthy_batch_of_its_repeat() -> None:
    def repeat(healthy: tuple[float, float], down: tuple[float | None, float | None]) -> Any:
        return {
            "pipeline_topic": {"throughput": healthy[0], "latency_p50_ms": healthy[1]},
            "primary_down": {"throughput": down[0], "latency_p50_ms": down[1]},
        }

    paired = paired_primary_down(
        [repeat((40.0, 6000.0), (36.0, 7500.0)), repeat((50.0, 5000.0), (None, None))]
    )
    assert paired == {"throughput_ratios": [0.9, None], "p50_delta_ms": [1500.0, None]}


def _batch(throughput: float, p50: float) -> dict[str, Any]:
    spread = {f"{k}_p{q}_ms": p50 for k in ("latency", "client") for q in (50, 95, 99)}
    return {"throughput": throughput, "lost": 0, "failed": 0, **spread}


def _idle() -> dict[str, Any]:
    return {"client_p50_ms": 100.0, "latency_p50_ms": 50.0, "handler_ms": 10.0}


def test_ratio_targets_are_judged_on_the_median_of_each_repeats_pair() -> None:
    from benchmarks.report_paths import down_rows, path_rows

    # The medians' ratio (40 / 100 = 0.4) would miss; the repeats' own ratios say otherwise.
    m = {
        "floor_topic": _batch(100.0, 1000.0),
        "pipeline_topic": _batch(40.0, 5000.0),
        "primary_down": _batch(30.0, 7000.0),
        "idle_floor_topic": _idle(),
        "idle_pipeline_topic": _idle(),
        "idle_primary_down": _idle(),
    }
    topic = {r[0]: r for r in path_rows(m, "topic", [0.72, 0.8, None])}
    judged = topic["  ratio per repeat, paired: 0.72, 0.8, -"]
    assert (judged[3], judged[4]) == ("0.76", ">= 0.70 (median)  met")
    missed = {r[0]: r for r in path_rows(m, "topic", [0.5, 0.69, 0.9])}
    assert missed["  ratio per repeat, paired: 0.5, 0.69, 0.9"][4].endswith("MISSED")

    paired = {"throughput_ratios": [0.95, 0.85, 0.92], "p50_delta_ms": [1200.0, 300.0, 900.0]}
    down = {r[0]: r for r in down_rows(m, paired)}
    delta = down["  p50 difference per repeat, paired (ms): 1200, 300, 900"]
    assert (delta[2], delta[4]) == ("900", "<= +1000 ms (median)  met")
    tput = down["  ratio per repeat, paired: 0.95, 0.85, 0.92"]
    assert (tput[3], tput[4]) == ("0.92", ">= 0.90 (median)  met")
    late = {r[0]: r for r in down_rows(m, {"p50_delta_ms": [1200.0, 1100.0, 0.0]})}
    assert late["  p50 difference per repeat, paired (ms): 1200, 1100, 0"][4].endswith("MISSED")


def test_a_measurement_made_in_one_repeat_only_has_its_own_figures_as_medians() -> None:
    from benchmarks.run import medians_of

    repeats: list[dict[str, Any]] = [
        {"pipeline_topic": {"throughput": 40.0}},
        {"pipeline_topic": {"throughput": 60.0}},
        {"pipeline_topic": {"throughput": 50.0}, "peer_down": {"throughput": 45.0}},
    ]
    medians = medians_of(repeats)
    assert medians["pipeline_topic"]["throughput"] == 50.0
    assert medians["peer_down"]["throughput"] == 45.0
