"""The measurements: one batch or a few single tasks on a target (the floor or the pipeline),
with everything the processes counted meanwhile, and the scenarios built from them."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import cost, procstats
from benchmarks.batch import BatchRun, Completions, Submit, run_batch
from benchmarks.hotdoc import hot_figures
from benchmarks.stats import Figures, in_flight, spread
from infra.chaos import ChaosRunner

Counts = dict[str, Counter[str]]


@dataclass
class Target:
    """What a batch is sent to and read back from: the floor, or the pipeline."""

    name: str
    collection: str
    completions: Completions
    submit: dict[str, Submit]  # "topic" | "http" → how to send one task
    entry_topic: str  # where "topic" submissions go (the client's own publish)
    functions: list[str]  # components whose counters belong to this target


class Probe:
    """Counters, CPU time and simulator calls around each measurement."""

    def __init__(self, directory: Path, groups: dict[str, int], runner: ChaosRunner) -> None:
        self.directory = directory
        self.groups = groups
        self.runner = runner
        self.subscriptions: dict[str, int] = {}  # topic → subscriptions (deliveries/message)
        self._last: Counts | None = None

    def settled(self) -> Counts:
        self._last = procstats.settled_counters(self.directory, self.groups)
        return self._last

    @contextmanager
    def around(self) -> Iterator[dict[str, Any]]:
        """Yields a dict filled, after the block, with `counts`, `cpu_s` and `provider_calls`."""
        before = self._last if self._last is not None else self.settled()
        cpu_before = procstats.cpu_seconds(self.groups)
        calls_before = self.runner.total_calls()
        out: dict[str, Any] = {}
        yield out
        after = self.settled()
        cpu_after = procstats.cpu_seconds(self.groups)
        out["counts"] = procstats.delta(after, before)
        out["cpu_s"] = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
        out["provider_calls"] = self.runner.total_calls() - calls_before


def batch_figures(run: BatchRun, via: str) -> Figures:
    done = [run.docs[i] for i in run.finished]
    wall = run.wall_s
    figures: Figures = {
        "via": via,
        "tasks": len(run.ids),
        "succeeded": sum(1 for d in done if d.get("status") == "succeeded"),
        "failed": sum(1 for d in done if d.get("status") == "failed"),
        "lost": len(run.lost),
        "submit_errors": run.submit_errors,
        "wall_s": wall,
        "throughput": len(run.ids) / wall if wall else None,
    }
    figures |= spread(run.server_ms(), "latency")
    figures |= spread(run.client_ms(), "client")
    return figures


def submit_figures(run: BatchRun, via: str) -> Figures:
    """Ingest acceptance (HTTP only): `POST /tasks` answered per second over the submission
    (16 client threads), and each request's time to its 202 (the ingest overhead: the
    simulator is not involved before the answer)."""
    if via != "http" or not run.accept_ms:
        return {}
    span = run.submit_span_s
    accepted = len(run.ids) - run.submit_errors
    figures: Figures = {"accepted_per_s": round(accepted / span, 1) if span else None}
    return figures | spread(run.accept_ms, "accept")


def cost_figures(
    probe: Probe, target: Target, measured: dict[str, Any], *, tasks: int, client_messages: int
) -> Figures:
    total = cost.totals(measured["counts"], target.functions)
    client = {target.entry_topic: client_messages} if client_messages else {}
    ops = cost.ops_per_task(total, tasks, client, probe.subscriptions)
    cpu = measured["cpu_s"]
    figures: Figures = dict(ops)
    figures["provider_calls"] = measured["provider_calls"] / tasks if tasks else None
    figures["cpu_ms_functions"] = 1000 * sum(cpu.get(f, 0.0) for f in target.functions) / tasks
    figures["cpu_ms_firestore"] = 1000 * cpu.get("firestore", 0.0) / tasks
    figures["cpu_ms_pubsub"] = 1000 * cpu.get("pubsub", 0.0) / tasks
    if tasks:  # which function the CPU goes to (the lever when the machine is the limit)
        figures["cpu_ms_by_function"] = {
            f: round(1000 * cpu.get(f, 0.0) / tasks, 2) for f in target.functions
        }
    if tasks:  # where the writes go (docs/scaling.md: per-collection limits)
        figures["firestore_writes_by_collection"] = {
            key.removeprefix("firestore.writes."): round(value / tasks, 3)
            for key, value in sorted(total.items())
            if key.startswith("firestore.writes.")
        }
    return figures


def measure_batch(
    probe: Probe, target: Target, via: str, *, n: int, tag: str, timeout_s: float
) -> tuple[Figures, BatchRun]:
    """One batch of `n` tasks sent `via` "topic" or "http" to `target`, with its costs."""
    prefix = f"bench-{tag}-{int(time.time() * 1000)}-"
    with probe.around() as measured:
        run = run_batch(
            probe.runner.store.client,
            target.completions,
            collection=target.collection,
            prefix=prefix,
            n=n,
            submit=target.submit[via],
            timeout_s=timeout_s,
        )
    figures = batch_figures(run, via)
    sent = n - run.submit_errors if via == "topic" else 0
    figures |= cost_figures(probe, target, measured, tasks=n, client_messages=sent)
    if figures["succeeded"] and figures.get("firestore_ops") is not None:
        per_success = n / figures["succeeded"]
        figures["firestore_ops_per_success"] = figures["firestore_ops"] * per_success
        polling = figures.get("firestore_reads_circuits") or 0.0
        figures["firestore_task_ops_per_success"] = (
            figures["firestore_ops"] - polling
        ) * per_success
    figures["provider_usd_per_million"] = cost.provider_usd_per_million(list(run.docs.values()))
    figures["provider_tokens_per_task"] = cost.tokens_per_task(list(run.docs.values()))
    figures |= hot_figures(measured["counts"], n, run.wall_s)
    figures |= submit_figures(run, via)
    return figures, run


def measure_singles(
    probe: Probe, target: Target, via: str, *, count: int, tag: str, timeout_s: float
) -> Figures:
    """`count` tasks one after the other on an idle stack: the latency of one task alone.

    Each waits a random 0-200 ms first: the emulator's idle push loops poll every 100 ms, and a
    task sent right after the previous one finished would meet them in the same phase each time
    (measured: the medians then stuck to one side of a 50 ms step).
    """
    client_ms: list[float] = []
    server_ms: list[float] = []
    phase = random.Random(count)  # noqa: S311 - a replayable spread of start times
    with probe.around() as measured:
        for index in range(count):
            time.sleep(phase.uniform(0.0, 0.2))
            prefix = f"bench-{tag}-{int(time.time() * 1000)}-{index}-"
            run = run_batch(
                probe.runner.store.client,
                target.completions,
                collection=target.collection,
                prefix=prefix,
                n=1,
                submit=target.submit[via],
                timeout_s=timeout_s,
            )
            client_ms += run.client_ms()
            server_ms += run.server_ms()
    figures: Figures = {"via": via, "tasks": count}
    figures |= spread(server_ms, "latency") | spread(client_ms, "client")
    sent = count if via == "topic" else 0
    figures |= cost_figures(probe, target, measured, tasks=count, client_messages=sent)
    return figures


def fallback_rate(run: BatchRun, primary: str) -> float | None:
    providers = [
        (d.get("result") or {}).get("provider")
        for d in run.docs.values()
        if d.get("status") == "succeeded"
    ]
    if not providers:
        return None
    return round(sum(1 for p in providers if p != primary) / len(providers), 3)


def provider_concurrency(run: BatchRun) -> Figures:
    """How many provider calls were in flight at once, from the attempts' own timestamps."""
    intervals = [
        (a["started_at"], a["ended_at"])
        for d in run.docs.values()
        for a in d.get("attempts") or []
        if a.get("calls") and a.get("started_at") and a.get("ended_at")
    ]
    most, mean = in_flight(intervals)
    return {"calls_in_flight_max": most, "calls_in_flight_mean": mean}


@contextmanager
def primary_down(runner: ChaosRunner, primary: str, settle_s: float) -> Iterator[None]:
    """The primary provider down (circuits closed first), healthy again afterwards."""
    runner.reset()
    time.sleep(settle_s)  # workers' cached circuit views expire
    runner.fault(primary, "down")
    try:
        yield
    finally:
        runner.reset()
        time.sleep(settle_s)


@contextmanager
def provider_latency(
    runner: ChaosRunner, providers: list[str], mean_s: float, jitter_s: float
) -> Iterator[None]:
    """Every provider answering after `mean_s` ± `jitter_s` (uniform).

    The simulator's "slow" fault has one fixed delay, taken by each call as it begins; redrawing
    it every 50 ms gives calls spread over time independent delays in the range.
    """
    stop = threading.Event()
    rng = random.Random(7)  # noqa: S311 - a latency distribution, replayable; not a secret

    def redraw() -> None:
        while not stop.is_set():
            for provider in providers:
                delay = max(0.0, rng.uniform(mean_s - jitter_s, mean_s + jitter_s))
                runner.fault(provider, "slow", delay_s=round(delay, 3))
            stop.wait(0.05)

    for provider in providers:
        runner.fault(provider, "slow", delay_s=mean_s)
    thread = threading.Thread(target=redraw, name="bench-jitter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        runner.reset()
