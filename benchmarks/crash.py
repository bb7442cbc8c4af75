"""The crash, both sides: the process doing the work SIGKILLed once about half of a batch was
answered, then restarted — the pipeline's primary worker (its in-flight tasks wait out their
lease, then the sweeper re-publishes them; nobody re-submits), and the peer's router process
(the caller re-submits what it did not see answered: benchmarks/peer.py).

Run last: a restarted worker is a new process group, which the per-component counters, CPU and
memory figures of the other measurements would no longer see.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from benchmarks.batch import BatchRun, new_ids, read_docs, submit_all
from benchmarks.scenarios import batch_figures
from benchmarks.stats import Figures
from shared.sweeper import Sweeper

if TYPE_CHECKING:
    from benchmarks.harness import Bench

KILL_AT = 0.5
SWEEP_EVERY_S = 2.0  # production: every few minutes (Cloud Scheduler); here, not to wait on it


def pipeline_crash(bench: Bench, n: int, tag: str) -> Figures:
    """A batch via the topic; the primary's worker killed at `KILL_AT` of it and restarted."""
    worker = f"worker-{bench.primary}"
    target = bench.targets["pipeline"]
    runner = bench.probe.runner
    sweeper = Sweeper(runner.settings, runner.store, runner.bus)
    logging.getLogger("shared.sweeper").setLevel(logging.ERROR)  # counted instead of logged
    run = BatchRun(ids=new_ids(f"bench-{tag}-{int(time.time() * 1000)}-", n))
    stop = threading.Event()
    marks: dict[str, Any] = {}
    calls_before = runner.total_calls()
    bench.progress(f"{tag}: pipeline via topic, {n} tasks, {worker} killed at {KILL_AT:.0%} ...")

    def crash(seen: dict[str, float]) -> None:
        while len(seen) < KILL_AT * n and not stop.wait(0.05):
            pass
        if stop.is_set():
            return
        marks["answered_before_kill"] = len(seen)
        bench.stack.kill_function(worker)
        began = time.monotonic()
        bench.stack.restart_function(worker)
        marks["restart_s"] = round(time.monotonic() - began, 2)
        bench.progress(f"{tag}: {worker} killed at {len(seen)} answered, restarted ...")
        while not stop.wait(SWEEP_EVERY_S):
            marks["republished"] = marks.get("republished", 0) + len(sweeper.sweep().republished)

    with target.completions.expecting(run.ids) as seen:
        thread = threading.Thread(target=crash, args=(seen,), name="bench-crash", daemon=True)
        thread.start()
        try:
            submit_all(run, target.submit["topic"])
            target.completions.wait(seen, n, bench.timeout_s(n))
            run.seen = dict(seen)
            bench.progress(f"{tag}: {len(seen)} answered; stopping the sweeps ...")
        finally:
            stop.set()
            thread.join()
    run.docs = read_docs(runner.store.client, target.collection, run.ids)
    calls = runner.total_calls() - calls_before
    figures = batch_figures(run, "topic")
    figures["provider_calls"] = calls / n
    figures["duplicate_calls"] = max(0, calls - n)
    figures["lost_without_resubmit"] = len(run.lost)  # nobody re-submits to the pipeline
    figures["restart_s"] = marks.get("restart_s")
    figures["republished"] = marks.get("republished", 0)
    bench.progress(f"{tag}: pipeline crash: {figures['throughput']} tasks/s, {len(run.lost)} lost")
    return figures
