"""`aiexec bench`: start a private local stack plus the floor, run every measurement `repeat`
times (interleaved, so the floor and the pipeline see the same machine), report the medians.

Order within a repeat: single tasks on the idle stack, then per path (the `tasks` topic, then
HTTP) a floor batch followed by a pipeline batch, then the primary provider down (a batch, then
single tasks), then the provider at a realistic latency. Unrecorded warm-up batches come first.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import peer, procstats, scenarios
from benchmarks.batch import new_ids
from benchmarks.batch_lane import measure_batch_lane
from benchmarks.cost import dollars_per_million, load_prices
from benchmarks.crash import KILL_AT, pipeline_crash
from benchmarks.harness import (
    Bench,
    Options,
    Progress,
    production_push,
    running_bench,
    stderr_progress,
)
from benchmarks.pushproxy import pushed_by_us
from benchmarks.stats import Figures, median_figures, ratio

WARMUP_TASKS = 50
OPS_SHOWN = (
    "firestore_reads",
    "firestore_reads_circuits",
    "firestore_writes",
    "firestore_deletes",
    "firestore_ops",
    "firestore_commits",
    "pubsub_published",
    "pubsub_delivered",
    "invocations",
    "billed_ms",
    "billed_ms_under_load",
)


def one_repeat(bench: Bench, index: int) -> dict[str, Figures]:
    """Every measurement once; those without a target set on a ratio between two batches (the
    slow provider, the peer with the primary down: 30 s each) only in the last repeat, which
    keeps `make bench` near 10 minutes."""
    tag = f"r{index + 1}"
    last = index == bench.options.repeat - 1
    out = _singles(bench, tag)
    for via in ("topic", "http"):
        for target in ("floor", "pipeline"):
            out[f"{target}_{via}"], _ = bench.batch(target, via, bench.options.tasks, tag)
    out |= _primary_down(bench, tag)
    if last:
        out["provider_latency"] = _slow_provider(bench, tag)
    if bench.options.peer:
        out["peer_healthy"] = _peer_batch(bench, f"{tag}-peer")
        if last:
            settle = bench.stack.settings.circuit_cache_s + 0.5
            with scenarios.primary_down(bench.probe.runner, bench.primary, settle):
                out["peer_down"] = _peer_batch(bench, f"{tag}-peer-down")
    return out


def medians_of(repeats: list[dict[str, Figures]]) -> dict[str, Figures]:
    """Per measurement, the medians over the repeats that made it."""
    keys = list(dict.fromkeys(key for r in repeats for key in r))
    return {key: median_figures([r[key] for r in repeats if key in r]) for key in keys}


def _peer_batch(bench: Bench, tag: str, kill_at: float | None = None) -> Figures:
    n = bench.options.tasks
    what = f", killed at {kill_at:.0%} and restarted" if kill_at else ""
    bench.progress(f"{tag}: peer (LiteLLM Router), {n} tasks{what} ...")
    ids = new_ids(f"{tag}-{int(time.time() * 1000)}-", n)
    calls = bench.probe.runner.total_calls
    run = peer.run_peer(bench.peer, ids, tag, calls, kill_at=kill_at, timeout_s=bench.timeout_s(n))
    figures = peer.peer_figures(run, bench.primary)
    tput = figures["throughput"]
    rate = f"{tput:.1f} tasks/s" if tput else f"{figures['lost']} lost"
    bench.progress(f"{tag}: peer: {rate}, client p50 {figures['client_p50_ms']} ms")
    return figures


def crash_pair(bench: Bench) -> dict[str, Figures]:
    """Once, after everything else (see benchmarks/crash.py)."""
    out = {"pipeline": pipeline_crash(bench, bench.options.tasks, "crash")}
    if bench.options.peer:
        out["peer"] = _peer_batch(bench, "crash-peer", kill_at=KILL_AT)
    return out


def _singles(bench: Bench, tag: str) -> dict[str, Figures]:
    out = {}
    for via in ("topic", "http"):
        for target in ("floor", "pipeline"):
            out[f"idle_{target}_{via}"] = bench.singles(target, via, tag)
    return out


def _primary_down(bench: Bench, tag: str) -> dict[str, Figures]:
    """A batch, then single tasks (the fallback's own cost, without a batch's queueing)."""
    settle = bench.stack.settings.circuit_cache_s + 0.5
    with scenarios.primary_down(bench.probe.runner, bench.primary, settle):
        figures, run = bench.batch("pipeline", "topic", bench.options.tasks, f"{tag} down")
        singles = bench.singles("pipeline", "topic", f"{tag}-down")
    figures["fallback_rate"] = scenarios.fallback_rate(run, bench.primary)
    return {"primary_down": figures, "idle_primary_down": singles}


def _slow_provider(bench: Bench, tag: str) -> Figures:
    opts = bench.options
    mean, jitter = opts.provider_latency_ms / 1000, opts.provider_jitter_ms / 1000
    endpoints, concurrency = production_push(bench)
    project = bench.stack.settings.project_id
    with (
        scenarios.provider_latency(
            bench.probe.runner, bench.stack.settings.providers, mean, jitter
        ),
        pushed_by_us(project, endpoints, concurrency),
    ):
        figures, run = bench.batch("pipeline", "topic", opts.n_latency, f"{tag} slow provider")
    return figures | scenarios.provider_concurrency(run)


def warm_up(bench: Bench) -> None:
    """Unrecorded: JIT, connection pools and lazily built clients warm in every process (the
    fallback provider's worker too)."""
    for via in ("topic", "http"):
        for target in ("floor", "pipeline"):
            bench.batch(target, via, WARMUP_TASKS, "warm-up")
    settle = bench.stack.settings.circuit_cache_s + 0.5
    with scenarios.primary_down(bench.probe.runner, bench.primary, settle):
        bench.batch("pipeline", "topic", WARMUP_TASKS // 5, "warm-up down")


def run(options: Options, progress: Progress = stderr_progress) -> dict[str, Any]:
    """The whole benchmark; returns the results (also what `--out` gets)."""
    started = time.monotonic()
    load_before = os.getloadavg()
    timeline: list[tuple[float, str]] = []  # where the run's time went, in the JSON

    def noted(message: str) -> None:
        timeline.append((round(time.monotonic() - started, 1), message))
        progress(message)

    with running_bench(options, noted) as bench:
        if options.warmup:
            warm_up(bench)
        repeats = [one_repeat(bench, i) for i in range(options.repeat)]
        memory = procstats.peak_rss_mib(bench.probe.groups)
        functions = {name: bench.targets[name].functions for name in bench.targets}
        primary = bench.primary
        lane = (
            measure_batch_lane(bench, options.batch_tasks, "batch-lane")
            if options.batch_tasks
            else None
        )
        crash = crash_pair(bench)
    medians = medians_of(repeats)
    prices = load_prices()
    return {
        "meta": _meta(options, load_before, time.monotonic() - started),
        "timeline": timeline,
        "primary": primary,
        "medians": medians,
        "cost": cost_summary(medians, prices),
        "paired_throughput_ratios": paired_ratios(repeats),
        "paired_primary_down": paired_primary_down(repeats),
        "runs": repeats,
        "crash": crash,
        "batch_lane": lane,
        "peer": peer_summary(medians, crash) if options.peer else None,
        "memory_mib": memory,
        "functions": functions,
        "prices": {k: prices[k] for k in ("currency", "taken", "notes")},
        "published": load_published(),
    }


PEER_FIGURES = (
    "throughput",
    "client_p50_ms",
    "client_p95_ms",
    "succeeded",
    "failed",
    "lost",
    "lost_without_resubmit",
    "provider_calls",
    "duplicate_calls",
    "fallback_rate",
    "restart_s",
)


def peer_summary(medians: dict[str, Figures], crash: dict[str, Figures]) -> dict[str, Any]:
    """Scenario → figure → {pipeline, peer, ratio (pipeline / peer)}: the side-by-side table."""
    pairs = {
        "healthy": (medians.get("pipeline_topic"), medians.get("peer_healthy")),
        "primary_down": (medians.get("primary_down"), medians.get("peer_down")),
        "crash": (crash.get("pipeline"), crash.get("peer")),
    }
    out: dict[str, Any] = {}
    for scenario, (pipe, other) in pairs.items():
        if not pipe or not other:
            continue
        out[scenario] = {
            key: {
                "pipeline": pipe.get(key),
                "peer": other.get(key),
                "ratio": ratio(pipe.get(key), other.get(key)),
            }
            for key in PEER_FIGURES
            if key in pipe or key in other
        }
    return out


PUBLISHED_FILE = Path(__file__).with_name("litellm_published.json")


def load_published() -> dict[str, Any]:
    """LiteLLM's published proxy overhead (with its source and when it was taken)."""
    published: dict[str, Any] = json.loads(PUBLISHED_FILE.read_text(encoding="utf-8"))
    return published


def paired_ratios(repeats: list[dict[str, Figures]]) -> dict[str, list[float | None]]:
    """Pipeline / floor throughput within each repeat (their batches ran back to back, so a
    change of machine load between repeats cancels out), per path."""
    return {
        via: [
            ratio(r[f"pipeline_{via}"]["throughput"], r[f"floor_{via}"]["throughput"])
            for r in repeats
        ]
        for via in ("topic", "http")
    }


def paired_primary_down(repeats: list[dict[str, Figures]]) -> dict[str, list[float | None]]:
    """The batch with the primary down against the healthy batch of the same repeat (their
    targets: throughput >= 0.90 of it, p50 <= it + 1 s): each repeat's throughput ratio and p50
    difference, so that a change of machine load between repeats cancels out."""
    pairs = [(r["primary_down"], r["pipeline_topic"]) for r in repeats]
    deltas: list[float | None] = []
    for down, healthy in pairs:
        late, base = down.get("latency_p50_ms"), healthy.get("latency_p50_ms")
        deltas.append(round(late - base, 1) if late is not None and base is not None else None)
    return {
        "throughput_ratios": [ratio(d.get("throughput"), h.get("throughput")) for d, h in pairs],
        "p50_delta_ms": deltas,
    }


def cost_summary(medians: dict[str, Figures], prices: dict[str, Any]) -> dict[str, Figures]:
    """Per target: operations per task (the batch via the topic) and dollars per million tasks.

    Compute is priced from the single tasks' billed time: on an idle stack an invocation takes
    what it needs; under a batch on this 2-core machine it also waits for CPU that, deployed,
    each instance has to itself. The slow-provider line shows what provider latency adds.
    """
    out: dict[str, Figures] = {}
    for target in ("floor", "pipeline"):
        ops = dict(medians[f"{target}_topic"])
        idle_ms = medians[f"idle_{target}_topic"].get("billed_ms")
        ops["billed_ms_under_load"] = ops.get("billed_ms")
        if idle_ms is not None:
            ops["billed_ms"] = idle_ms
        out[target] = {k: ops.get(k) for k in OPS_SHOWN} | dollars_per_million(ops, prices)
    out["pipeline"]["usd_provider_tokens"] = medians["pipeline_topic"].get(
        "provider_usd_per_million"
    )
    slow = medians["provider_latency"]
    out["pipeline_slow_provider"] = {k: slow.get(k) for k in OPS_SHOWN}
    out["pipeline_slow_provider"] |= dollars_per_million(slow, prices)
    return out


def _meta(options: Options, load_before: tuple[float, ...], elapsed_s: float) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}: {os.cpu_count()} CPUs, {_memory_gib()} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "cpu_model": _cpu_model(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "elapsed_s": round(elapsed_s, 1),
        "git": _git_revision(options.repo_root),
        "options": {
            "tasks": options.tasks,
            "repeat": options.repeat,
            "singles": options.singles,
            "latency_tasks": options.n_latency,
            "worker_threads": options.worker_threads,
            "provider_latency_ms": options.provider_latency_ms,
            "provider_jitter_ms": options.provider_jitter_ms,
            "peer": options.peer,
            "batch_tasks": options.batch_tasks,
        },
    }


def _memory_gib() -> float:
    return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_revision(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() or None
