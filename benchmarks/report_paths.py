"""The table's first sections: each path against the floor, the primary provider down against
the healthy pipeline, the provider at a realistic latency against the ideal. Targets set on a
ratio between two batches are judged on each repeat's own pair (medians of paired runs)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.report_rows import Row, Target, at_least, at_most, fmt, row
from benchmarks.stats import ratio


def path_rows(m: Mapping[str, Any], via: str, paired: Sequence[float | None] = ()) -> list[Row]:
    """The path's figures; the throughput target is judged on the median of the repeats' own
    ratios (each repeat's floor and pipeline batches ran back to back), not on the ratio of the
    medians, which compares batches that ran at different machine loads."""
    floor, pipe = m[f"floor_{via}"], m[f"pipeline_{via}"]
    idle_f, idle_p = m[f"idle_floor_{via}"], m[f"idle_pipeline_{via}"]
    idle = ratio(idle_p["client_p50_ms"], idle_f["client_p50_ms"])
    tput = paired_median(paired)
    rows = [
        row("throughput (tasks/s)", floor["throughput"], pipe["throughput"]),
        (f"  ratio per repeat, paired: {_listed(paired)}", "", "", fmt(tput),
         at_least(tput, 0.70, ">= 0.70 (median)").render()),
        *_spread_rows(floor, pipe, "latency", "ms, created -> completed"),
        *_spread_rows(floor, pipe, "client", "ms, submit -> event", prefix="client "),
        row("idle single task, client p50 (ms)", idle_f["client_p50_ms"],
            idle_p["client_p50_ms"], at_most(idle, 1.5, "<= 1.50")),
        row("idle single task, p50 (ms, documents)", idle_f["latency_p50_ms"],
            idle_p["latency_p50_ms"]),
        # The functions' own time, free of the emulator's push polling that dominates the above.
        row("idle single task, handler time (ms)", idle_f["handler_ms"], idle_p["handler_ms"]),
        row("lost", floor["lost"], pipe["lost"], Target("0", pipe["lost"] == 0), ratio_of=False),
    ]  # fmt: skip
    return rows


def paired_median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def _listed(values: Sequence[float | None]) -> str:
    return ", ".join(fmt(v) for v in values) or "-"


def _spread_rows(
    floor: Mapping[str, Any], pipe: Mapping[str, Any], key: str, unit: str, prefix: str = ""
) -> list[Row]:
    return [
        row(f"{prefix}latency p{q} ({unit})", floor[f"{key}_p{q}_ms"], pipe[f"{key}_p{q}_ms"])
        for q in (50, 95, 99)
    ]


def down_rows(m: Mapping[str, Any], paired: Mapping[str, Sequence[float | None]]) -> list[Row]:
    """The primary down against the healthy pipeline; the batch's targets are judged on each
    repeat's pair (its healthy and primary-down batches ran back to back), like throughput."""
    healthy, down = m["pipeline_topic"], m["primary_down"]
    idle_h, idle_d = m["idle_pipeline_topic"], m["idle_primary_down"]
    tput = paired_median(paired.get("throughput_ratios", ()))
    delta = paired_median(paired.get("p50_delta_ms", ()))
    return [
        row("batch latency p50 (ms, created -> completed)", healthy["latency_p50_ms"],
            down["latency_p50_ms"]),
        (f"  p50 difference per repeat, paired (ms): {_listed(paired.get('p50_delta_ms', ()))}",
         "", fmt(delta), "", at_most(delta, 1000, "<= +1000 ms (median)").render()),
        row("batch latency p95 (ms)", healthy["latency_p95_ms"], down["latency_p95_ms"]),
        row("batch client latency p50 (ms)", healthy["client_p50_ms"], down["client_p50_ms"]),
        row("batch throughput (tasks/s)", healthy["throughput"], down["throughput"]),
        (f"  ratio per repeat, paired: {_listed(paired.get('throughput_ratios', ()))}", "", "",
         fmt(tput), at_least(tput, 0.90, ">= 0.90 (median)").render()),
        _plus_one_s(
            "single task, client p50 (ms)", idle_h["client_p50_ms"], idle_d["client_p50_ms"]
        ),
        _plus_one_s(
            "single task, p50 (ms, created -> completed)",
            idle_h["latency_p50_ms"],
            idle_d["latency_p50_ms"],
        ),
        row("fallback rate", 0.0, down.get("fallback_rate"), ratio_of=False),
        row("provider calls per task", healthy.get("provider_calls"), down.get("provider_calls")),
        row("failed", healthy["failed"], down["failed"], ratio_of=False),
        row("lost", healthy["lost"], down["lost"], Target("0", down["lost"] == 0), ratio_of=False),
    ]  # fmt: skip


def _plus_one_s(label: str, healthy: Any, down: Any) -> Row:
    met = None if healthy is None or down is None else down <= healthy + 1000
    return row(label, healthy, down, Target("<= healthy + 1000 ms", met))


def latency_rows(m: Mapping[str, Any], options: Mapping[str, Any]) -> list[Row]:
    slow = m["provider_latency"]
    ideal = options["worker_threads"] / (options["provider_latency_ms"] / 1000)
    return [
        row("throughput (tasks/s; ref: threads / latency)", ideal, slow["throughput"]),
        row(
            "provider calls in flight, most at once",
            options["worker_threads"],
            slow.get("calls_in_flight_max"),
        ),
        row(
            "provider calls in flight, mean",
            options["worker_threads"],
            slow.get("calls_in_flight_mean"),
        ),
        row(
            "latency p50 (ms, created -> completed)",
            options["provider_latency_ms"],
            slow["latency_p50_ms"],
        ),
        row("lost", 0, slow["lost"], Target("0", slow["lost"] == 0), ratio_of=False),
    ]
