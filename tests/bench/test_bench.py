"""`aiexec bench` keeps working: a tiny run end to end (its own stack, the floor beside it).

Asserts the output's structure and that the counted operations are sane — never timings, which
depend on the machine.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiexec.cli.main import EXIT_OK, main
from benchmarks.report import render

# The whole benchmark runs in the module's fixture (its own stack, every measurement, the batch
# lane): longer than the suite's 300 s per test on a loaded 2-core machine.
pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

BATCHES = ("floor_topic", "pipeline_topic", "floor_http", "pipeline_http", "primary_down")
SINGLES = (
    "idle_floor_topic",
    "idle_pipeline_topic",
    "idle_floor_http",
    "idle_pipeline_http",
    "idle_primary_down",
)
TASKS = 5
BATCH_TASKS = 20  # the batch lane's measurement (10,000 by default)
# The peer: LiteLLM, in the `bench` group that `make install` syncs for `make test` and
# `make bench` alike (a missing one fails here rather than skipping the comparison).
PEERS = ("peer_healthy", "peer_down")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("bench")
    out = base / "results.json"
    argv = ["bench", "--tasks", str(TASKS), "--repeat", "1", "--singles", "1"]
    argv += ["--latency-tasks", "3", "--no-warmup", "--state-dir", str(base), "--out", str(out)]
    argv += ["--batch-tasks", str(BATCH_TASKS)]
    assert main(argv) == EXIT_OK
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_every_measurement_is_there(results: dict[str, Any]) -> None:
    assert set(results) >= {"meta", "medians", "runs", "cost", "memory_mib", "prices"}
    assert set(results["medians"]) == {*BATCHES, *SINGLES, *PEERS, "provider_latency"}
    assert len(results["runs"]) == 1
    assert results["meta"]["options"]["tasks"] == TASKS
    for key in BATCHES:
        figures = results["medians"][key]
        assert figures["tasks"] == TASKS
        assert figures["lost"] == 0
        assert figures["succeeded"] == TASKS
        assert figures["throughput"] > 0
        assert figures["latency_p50_ms"] <= figures["latency_p99_ms"]


def test_counts_are_sane(results: dict[str, Any]) -> None:
    floor, pipeline = results["medians"]["floor_topic"], results["medians"]["pipeline_topic"]
    # The floor does exactly what it was built to do.
    assert floor["firestore_reads"] == 0
    assert floor["firestore_writes"] == 5
    assert floor["pubsub_published"] == 3
    assert floor["invocations"] == 2
    # The pipeline: no read (the first hop's message carries the task the lease is
    # conditioned on), five writes (the task's creation, lease and outcome, its usage
    # document, a rollup), one push per hop; the breaker's polling (per instance, not per
    # task) is counted apart.
    polling = pipeline["firestore_reads_circuits"]
    assert pipeline["firestore_reads"] - polling == pytest.approx(0)
    assert pipeline["firestore_writes"] == pytest.approx(5)
    assert pipeline["firestore_task_ops_per_success"] == pytest.approx(5)
    assert pipeline["pubsub_published"] == 3  # the client's, the hand-over, the result event
    assert pipeline["invocations"] == 2  # ingest-events, the worker
    assert pipeline["provider_calls"] == 1
    http = results["medians"]["pipeline_http"]
    assert http["pubsub_published"] == 2  # no client publish over HTTP
    down = results["medians"]["primary_down"]
    assert down["fallback_rate"] == 1.0
    assert down["invocations"] >= 3  # ingest, the primary's worker, the fallback's worker


def test_costs_and_memory(results: dict[str, Any]) -> None:
    cost = results["cost"]
    for target in ("floor", "pipeline"):
        assert cost[target]["usd_infra_total"] > 0
        assert cost[target]["usd_firestore"] > 0
    assert cost["pipeline"]["usd_provider_tokens"] > 0
    memory = results["memory_mib"]
    for name in ("ingest", "ingest-events", "worker-openai", "floor-worker", "firestore"):
        assert memory[name]["max_mib"] > 0


def test_the_table_renders(results: dict[str, Any]) -> None:
    table = render(results)
    assert "throughput (tasks/s)" in table
    assert "Firestore ops per successful task" in table
    assert "peak RSS (MiB): worker-openai" in table


def test_the_batch_lane_beside_the_online_one(results: dict[str, Any]) -> None:
    lane = results["batch_lane"]
    assert (lane["tasks"], lane["succeeded"], lane["lost"]) == (BATCH_TASKS, BATCH_TASKS, 0)
    # every task answered in the batch, one usage document per line, in one job or more
    assert lane["answered_in_batch"] == lane["usage_docs"] == BATCH_TASKS
    assert lane["jobs"] >= 1 and lane["triggers"] >= 1
    batch, online = lane["usd_provider_batch"], lane["usd_provider_online_prices"]
    assert 0 < batch < online
    assert lane["usd_provider_saved"] == pytest.approx(online - batch, abs=0.02)
    assert lane["usd_infra_total"] > 0
    # each task: its creation, its claim, its settlement (with its usage document and rollups)
    assert lane["firestore_writes"] >= 3
    assert lane["invocations"] >= 1  # ingest; the batcher's and poller's runs are per job
    assert f"Batch lane, {BATCH_TASKS} tasks once" in render(results)


def test_the_slow_provider_runs_calls_concurrently(results: dict[str, Any]) -> None:
    slow = results["medians"]["provider_latency"]
    assert slow["lost"] == 0
    assert slow["calls_in_flight_max"] >= 1
    assert results["meta"]["machine"]  # the table says what it ran on


def test_the_crash_loses_nothing(results: dict[str, Any]) -> None:
    crash = results["crash"]["pipeline"]
    assert crash["tasks"] == TASKS
    assert crash["lost"] == 0  # nobody re-submitted: the lease and the sweeper recovered them
    assert crash["lost_without_resubmit"] == 0


def test_hottest_document_and_ingest_acceptance(results: dict[str, Any]) -> None:
    http = results["medians"]["pipeline_http"]
    assert http["accepted_per_s"] > 0
    assert http["accept_p50_ms"] <= http["accept_p99_ms"]
    assert results["published"]["source"].startswith("https://docs.litellm.ai/")
    topic = results["medians"]["pipeline_topic"]
    assert topic["firestore_writes_by_collection"]["tasks"] == pytest.approx(3, abs=1)
    assert "hot_doc" in topic  # None when no document reached the counting threshold


def test_the_peer_beside_the_pipeline(results: dict[str, Any]) -> None:
    peer = results["peer"]
    assert set(peer) == {"healthy", "primary_down", "crash"}
    assert peer["healthy"]["lost"]["peer"] == 0
    assert peer["primary_down"]["fallback_rate"]["peer"] == 1.0
    assert results["crash"]["peer"]["lost"] == 0  # after the caller re-submitted
    assert "Beside a peer" in render(results)
