"""The batch lane's measurement (issue 16): N tasks (`mode: batch`, default 10,000) through
ingest, the batcher, the simulator's batch jobs and the poller, beside the online lane.

How it runs: the tasks are submitted over HTTP (16 client threads) and stored `queued`; then a
stand-in for Cloud Scheduler publishes to `batch-requests` every `TRIGGER_EVERY_S` until every
task's completion event has arrived — the first trigger after the submission gathers them all
(one job per provider and model, below the provider's line limit), the next ones poll. The
simulator finishes a job after `SIM_DELAY_S` (a provider takes minutes to hours: what is
measured is the lane's own work, not the provider's queue).

What is kept: wall time (first submit → last completion) and its two parts, Firestore and
Pub/Sub operations per task counted in the functions (ingest, batcher, poller, callbacks — as
for the online lane), infrastructure $ per million tasks at the same list prices, and provider
$ per million tasks at batch prices next to the same tokens at online prices, summed from the
batch usage documents (`cost_usd`, `online_cost_usd`: one per line).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from google.cloud.firestore_v1.base_query import FieldFilter

from benchmarks import cost
from benchmarks.batch import BatchRun, new_ids, read_docs, submit_all
from benchmarks.scenarios import batch_figures, cost_figures
from benchmarks.stats import Figures
from shared.bus import Bus

BATCH_TASKS = 10_000
SIM_DELAY_S = 2.0  # the simulator's job time (AIEXEC_SIM_BATCH_DELAY_S, set at run time)
TRIGGER_EVERY_S = 1.0  # deployed: AIEXEC_BATCH_SCHEDULE, every 5 minutes
TRIGGER = b'{"source": "aiexec bench"}'
FIELDS = {"mode": "batch"}  # the deadline is the lane's default (24 h)
ONLINE_REFERENCE = "pipeline_topic"  # the online lane's batch the lane is shown beside


@contextmanager
def scheduled(bus: Bus, topic: str, every_s: float) -> Iterator[list[float]]:
    """Publish a trigger to `topic` now and every `every_s` while the block runs (what Cloud
    Scheduler does); yields the monotonic times of the triggers sent."""
    sent: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while True:
            bus.publish(topic, TRIGGER)
            sent.append(time.monotonic())
            if stop.wait(every_s):
                return

    thread = threading.Thread(target=tick, name="bench-batch-scheduler", daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join()


def provider_dollars(usage: Sequence[Mapping[str, Any]], tasks: int) -> Figures:
    """Provider $ per million tasks from the batch usage documents: at batch prices, the same
    tokens at online prices, and the difference (unpriced lines count in neither)."""
    priced = [u for u in usage if u.get("cost_usd") is not None]
    both = [u for u in priced if u.get("online_cost_usd") is not None]
    if not tasks or not priced:
        return {"usage_docs": len(usage)}
    batch = sum(float(u["cost_usd"]) for u in priced)
    online = sum(float(u["online_cost_usd"]) for u in both)
    saved = online - sum(float(u["cost_usd"]) for u in both)
    per_million = cost.MILLION / tasks
    return {
        "usage_docs": len(usage),
        "usd_provider_batch": round(batch * per_million, 2),
        "usd_provider_online_prices": round(online * per_million, 2),
        "usd_provider_saved": round(saved * per_million, 2),
        "saved_share": round(saved / online, 4) if online else None,
    }


def job_ids(docs: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The jobs the batcher put these tasks in (`batch.job_id` on each task)."""
    return {
        str(d["batch"]["job_id"]) for d in docs.values() if (d.get("batch") or {}).get("job_id")
    }


def lane_shares(docs: Mapping[str, Mapping[str, Any]]) -> Figures:
    """How the tasks ended: answered in the batch, or moved to the online lane."""
    finished = [d for d in docs.values() if d.get("status") in ("succeeded", "failed")]
    in_batch = sum(1 for d in finished if (d.get("result") or {}).get("lane") == "batch")
    return {"answered_in_batch": in_batch, "moved_online": len(finished) - in_batch}


def _usage_of(client: Any, collection: str, jobs: set[str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for job in sorted(jobs):
        query = client.collection(collection).where(filter=FieldFilter("job_id", "==", job))
        docs += [snap.to_dict() or {} for snap in query.stream()]
    return docs


def measure_batch_lane(bench: Any, n: int, tag: str) -> Figures:
    """N batch tasks through the lane on the bench's stack, with their costs."""
    probe, target = bench.probe, bench.targets["pipeline"]
    settings, store = bench.stack.settings, probe.runner.store
    bench.progress(f"{tag}: batch lane, {n} tasks (mode batch, via HTTP) ...")
    simulator = bench.stack.url("simulator").rstrip("/")
    httpx.post(f"{simulator}/_sim/batch", json={"delay_s": SIM_DELAY_S}, timeout=10.0)
    run = BatchRun(ids=new_ids(f"bench-{tag}-{int(time.time() * 1000)}-", n))
    with probe.around() as measured, target.completions.expecting(run.ids) as seen:
        submit_all(run, target.submit["http"], FIELDS)
        submitted = time.monotonic()
        with scheduled(probe.runner.bus, settings.topic_batch_requests, TRIGGER_EVERY_S) as sent:
            target.completions.wait(seen, n, bench.timeout_s(n))
        run.seen = dict(seen)
    run.docs = read_docs(store.client, target.collection, run.ids)
    figures = batch_figures(run, "http")
    figures |= cost_figures(probe, target, measured, tasks=n, client_messages=0)
    figures |= _timing(run, submitted, len(sent))
    figures |= lane_shares(run.docs)
    usage = _usage_of(store.client, settings.collection_usage, job_ids(run.docs))
    figures |= provider_dollars(usage, n) | {"jobs": len(job_ids(run.docs))}
    figures["sim_delay_s"] = SIM_DELAY_S
    figures |= cost.dollars_per_million(figures, cost.load_prices())
    bench.progress(
        f"{tag}: batch lane: {figures['wall_s'] or 'not finished'} s wall, "
        f"{figures.get('firestore_ops')} Firestore ops per task, {figures['lost']} lost"
    )
    return figures


def _timing(run: BatchRun, submitted: float, triggers: int) -> Figures:
    first = min(run.submitted.values()) if run.submitted else submitted
    last = max(run.seen.values()) if run.seen else None
    return {
        "submit_s": round(submitted - first, 1),
        "lane_s": round(last - submitted, 1) if last is not None else None,
        "triggers": triggers,
    }
