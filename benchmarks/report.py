"""The results as one readable table: each pipeline figure next to its reference (the floor's,
unless a section says otherwise), their ratio, and the target where the issue sets one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.report_paths import down_rows, latency_rows, path_rows
from benchmarks.report_rows import Row, at_most, row

_WIDTHS = (50, 11, 11, 7)


def cost_rows(m: Mapping[str, Any], cost: Mapping[str, Any]) -> list[Row]:
    floor, pipe = m["floor_topic"], m["pipeline_topic"]
    ops = pipe.get("firestore_task_ops_per_success")
    rows = [
        row("Firestore reads per task", floor["firestore_reads"], pipe["firestore_reads"]),
        row(
            "  of which breaker polling (per instance, every few s)",
            0.0,
            pipe.get("firestore_reads_circuits"),
            ratio_of=False,
        ),
        row("Firestore writes per task", floor["firestore_writes"], pipe["firestore_writes"]),
        row(
            "Firestore ops per successful task, all",
            floor.get("firestore_ops_per_success"),
            pipe.get("firestore_ops_per_success"),
        ),
        row(
            "Firestore ops per successful task, the task's own",
            floor.get("firestore_ops_per_success"),
            ops,
            at_most(ops, 6, "<= 6"),
        ),
    ]
    per_task = (
        ("pubsub_published", "Pub/Sub messages published per task"),
        ("pubsub_delivered", "Pub/Sub deliveries per task"),
        ("invocations", "function invocations per task"),
        ("cpu_ms_functions", "CPU per task, functions (ms)"),
        ("cpu_ms_firestore", "CPU per task, Firestore emulator (ms)"),
        ("cpu_ms_pubsub", "CPU per task, Pub/Sub emulator (ms)"),
    )
    rows += [row(label, floor.get(key), pipe.get(key)) for key, label in per_task]
    return rows + dollar_rows(cost)


def dollar_rows(cost: Mapping[str, Any]) -> list[Row]:
    floor, pipe = cost["floor"], cost["pipeline"]
    rows = [row("billed function time per task (ms, idle)", floor["billed_ms"], pipe["billed_ms"])]
    services = (
        ("usd_firestore", "Firestore"),
        ("usd_pubsub", "Pub/Sub"),
        ("usd_invocations", "function invocations"),
        ("usd_compute", "function compute"),
        ("usd_infra_total", "infrastructure, total"),
    )
    rows += [row(f"$ per 1M tasks: {label}", floor.get(k), pipe.get(k)) for k, label in services]
    rows.append(row("$ per 1M tasks: provider tokens", None, pipe.get("usd_provider_tokens")))
    slow = cost["pipeline_slow_provider"].get("usd_compute")
    rows.append(row("$ per 1M tasks: compute, slow provider", None, slow))
    return rows


LANE_OPS = (
    ("firestore_reads", "Firestore reads per task"),
    ("firestore_writes", "Firestore writes per task"),
    ("firestore_ops", "Firestore ops per task"),
    ("pubsub_published", "Pub/Sub messages published per task"),
    ("pubsub_delivered", "Pub/Sub deliveries per task"),
    ("invocations", "function invocations per task"),
)


def lane_rows(m: Mapping[str, Any], cost: Mapping[str, Any], lane: Mapping[str, Any]) -> list[Row]:
    """The batch lane (the pipeline column) beside the online lane's batch via the topic."""
    online, online_usd = m.get("pipeline_topic") or {}, cost.get("pipeline") or {}
    rows = [
        row("tasks", online.get("tasks"), lane.get("tasks"), ratio_of=False),
        row("throughput (tasks/s, first submit -> last completion)", online.get("throughput"),
            lane.get("throughput")),
        row("wall time (s)", online.get("wall_s"), lane["wall_s"], ratio_of=False),
        row("  of which submitting (s)", None, lane.get("submit_s")),
        row("  of which batcher, provider job, poller (s)", None, lane.get("lane_s")),
        row("answered in the batch / moved online", None,
            f"{lane.get('answered_in_batch')} / {lane.get('moved_online')}", ratio_of=False),
        *(row(label, online.get(key), lane.get(key)) for key, label in LANE_OPS),
        row("$ per 1M tasks: infrastructure, total", online_usd.get("usd_infra_total"),
            lane.get("usd_infra_total")),
        row("$ per 1M tasks: provider tokens", online_usd.get("usd_provider_tokens"),
            lane.get("usd_provider_batch")),
        row("$ per 1M tasks: the same tokens at online prices", None,
            lane.get("usd_provider_online_prices")),
        row("$ per 1M tasks: saved by the batch lane", None, lane.get("usd_provider_saved")),
    ]  # fmt: skip
    return rows


PEER_ROWS = (
    ("throughput", "throughput (tasks/s)"),
    ("client_p50_ms", "p50 (ms, submit -> answer/event)"),
    ("client_p95_ms", "p95 (ms)"),
    ("provider_calls", "provider calls per task"),
    ("fallback_rate", "fallback rate"),
    ("lost", "lost (never answered)"),
    ("lost_without_resubmit", "lost unless the caller re-submits"),
    ("duplicate_calls", "provider calls made twice"),
    ("restart_s", "restart (s)"),
)
PEER_SCENARIOS = (("healthy", "healthy"), ("primary_down", "down"), ("crash", "crash"))


def peer_rows(peer: Mapping[str, Any] | None) -> list[Row]:
    """Scenario by scenario: the peer's figure as the reference, the pipeline's, their ratio."""
    rows: list[Row] = []
    for scenario, title in PEER_SCENARIOS:
        figures = (peer or {}).get(scenario)
        if not figures:
            continue
        for key, label in PEER_ROWS:
            pair = figures.get(key)
            if pair is None or (pair.get("peer") is None and pair.get("pipeline") is None):
                continue
            counted = key in ("lost", "lost_without_resubmit", "duplicate_calls", "fallback_rate")
            rows.append(
                row(
                    f"{title}: {label}",
                    pair.get("peer"),
                    pair.get("pipeline"),
                    ratio_of=not counted,
                )
            )
    return rows


def hot_rows(m: Mapping[str, Any]) -> list[Row]:
    """The hottest document of the batch via the topic (and of the HTTP one: ingest's side)."""
    rows: list[Row] = []
    for key, title in (("pipeline_topic", "via the topic"), ("pipeline_http", "via HTTP")):
        f = m.get(key) or {}
        if not f.get("hot_doc"):
            continue
        at = f.get("hot_doc_writes_per_s_at_target")
        at_peak = f.get("hot_doc_writes_per_s_at_target_peak")
        target_rate = f.get("hot_doc_target_tasks_per_s", 1000)
        rows += [
            row(f"{title}: {f['hot_doc']}", None, None, ratio_of=False),
            row("  writes/s sustained over the batch", None, f.get("hot_doc_writes_per_s")),
            row("  writes per task", None, f.get("hot_doc_writes_per_task")),
            row(f"  writes/s at {target_rate:.0f} tasks/s, the bench's shards", None, at),
            row(
                f"  ... AIEXEC_PEAK_TASKS_PER_S={target_rate:.0f} (mean per shard)",
                None,
                at_peak,
                at_most(at_peak, 1.0, "<= 1 (Firestore)"),
            ),
        ]
    return rows + client_rows(m.get("pipeline_http") or m.get("pipeline_topic") or {})


def client_rows(f: Mapping[str, Any]) -> list[Row]:
    """Ingest's side: one client at the target rate, its rate-limit and budget shards
    (benchmarks/hotdoc.py `per_client`: the rules' arithmetic)."""
    if f.get("client_budget_shards") is None:
        return []
    limit = f.get("client_ratelimit_writes_per_s_per_shard")
    budget = f.get("client_budget_writes_per_s_per_shard")
    return [
        row(
            f"one client at {f['client_tasks_per_s']:.0f} tasks/s (= its rate limit)",
            None,
            None,
            ratio_of=False,
        ),
        row(
            f"  writes/s per rate-limit shard ({f['client_ratelimit_shards']} shards)",
            None,
            limit,
            at_most(limit, 1.0, "<= 1 (Firestore)"),
        ),
        row(
            f"  writes/s per budget shard ({f['client_budget_shards']} shards)",
            None,
            budget,
            at_most(budget, 1.0, "<= 1 (Firestore)"),
        ),
    ]


def ingest_rows(m: Mapping[str, Any], published: Mapping[str, Any]) -> list[Row]:
    """`POST /tasks` accepted by one ingest process; reference: LiteLLM's published proxy
    overhead (the fastest configuration it publishes)."""
    f = m.get("pipeline_http") or {}
    if f.get("accepted_per_s") is None:
        return []
    best = min(published.get("proxy_overhead") or [{}], key=lambda r: r.get("p50_ms", 1e9))
    return [
        row("accepted per second (one process, 16 client threads)", best.get("rps"),
            f.get("accepted_per_s"), ratio_of=False),
        row("overhead p50 (ms, request -> 202)", best.get("p50_ms"), f.get("accept_p50_ms"),
            ratio_of=False),
        row("overhead p95 (ms)", best.get("p95_ms"), f.get("accept_p95_ms"), ratio_of=False),
        row("overhead p99 (ms)", best.get("p99_ms"), f.get("accept_p99_ms"), ratio_of=False),
    ]  # fmt: skip


MEMORY_PAIRS = (("ingest", "floor-ingest"), ("ingest-events", "floor-ingest-events"))


def memory_rows(memory: Mapping[str, Mapping[str, float]], primary: str) -> list[Row]:
    pairs = dict(MEMORY_PAIRS) | {f"worker-{primary}": "floor-worker"}
    floor_names = set(pairs.values())
    rows = []
    for name, peak in memory.items():
        if name in floor_names:
            continue
        ref = memory.get(pairs[name], {}).get("max_mib") if name in pairs else None
        rows.append(row(f"peak RSS (MiB): {name}", ref, peak["max_mib"]))
    return rows


def render(results: Mapping[str, Any]) -> str:
    meta, m = results["meta"], results["medians"]
    opts = meta["options"]
    primary = str(results.get("primary", "openai"))
    tput = results.get("paired_throughput_ratios") or {"topic": [], "http": []}
    sections: list[tuple[str, list[Row]]] = [
        ("Via the `tasks` topic (reference: the floor)", path_rows(m, "topic", tput["topic"])),
        (
            "Via HTTP POST /tasks (reference: the floor's HTTP entry)",
            path_rows(m, "http", tput["http"]),
        ),
        (
            f"{primary} down, via the topic (reference: healthy pipeline)",
            down_rows(m, results.get("paired_primary_down") or {}),
        ),
        (
            f"Provider at {opts['provider_latency_ms']:.0f} ± {opts['provider_jitter_ms']:.0f} ms, "
            f"{opts['latency_tasks']} tasks, once (reference: ideal)",
            latency_rows(m, opts),
        ),
        ("Cost per task (reference: the floor; via the topic)", cost_rows(m, results["cost"])),
        ("Hottest document (the batch's writes to one document)", hot_rows(m)),
        (
            _ingest_title(results.get("published") or {}),
            ingest_rows(m, results.get("published") or {}),
        ),
        (
            "Beside a peer, LiteLLM's Router: same simulator, chain, N, concurrency (reference: "
            "the peer)\n  down = primary down, once; crash = killed at 50 % and restarted, once",
            peer_rows(results.get("peer")),
        ),
        *(
            [(_lane_title(results), lane_rows(m, results["cost"], results["batch_lane"]))]
            if results.get("batch_lane")
            else []
        ),
        (
            "Memory (reference: the floor's counterpart)",
            memory_rows(results["memory_mib"], primary),
        ),
    ]
    lines = [_title(meta)]
    header = ("", "reference", "pipeline", "ratio", "target")
    lines.append(_line(header))
    for title, rows in sections:
        lines.append(title)
        lines.extend(_line(("  " + r[0], *r[1:])) for r in rows)
    lines += ["", *_notes(results)]
    return "\n".join(lines)


def _lane_title(results: Mapping[str, Any]) -> str:
    lane = results["batch_lane"]
    return (
        f"Batch lane, {lane.get('tasks')} tasks once, {lane.get('jobs')} job(s), simulator job "
        f"time {lane.get('sim_delay_s')} s (reference: the online lane via the topic)"
    )


def _ingest_title(published: Mapping[str, Any]) -> str:
    best = min(published.get("proxy_overhead") or [{}], key=lambda r: r.get("p50_ms", 1e9))
    return (
        "Ingest acceptance, POST /tasks (reference: LiteLLM proxy overhead as published, "
        f"{best.get('instances', '?')} instances x 4 CPU; {published.get('source', '?')}, "
        f"taken {published.get('taken', '?')})"
    )


def _notes(results: Mapping[str, Any]) -> list[str]:
    taken = results.get("prices", {}).get("taken", "?")
    return [
        "Notes: a batch is submitted all at once, so its latencies are mostly queueing; compare",
        "its throughput. The Pub/Sub emulator pushes each subscription through 2 loops, one",
        "request at a time (polling every 100 ms when idle): throughput = 2 / the slowest hop's",
        "handler time. The slow-provider batch is pushed by the benchmark itself, up to each",
        "function's concurrency, as production Pub/Sub would.",
        f"$: list prices taken {taken} (benchmarks/infra_prices.json); compute is billed per",
        "invocation (concurrency 1), rounded up to 100 ms, at the single tasks' durations;",
        "provider tokens: the simulator's token usage at shared/data/models.json.",
    ]


def _title(meta: Mapping[str, Any]) -> str:
    opts = meta["options"]
    return (
        f"aiexec bench - {opts['tasks']} tasks per batch, {opts['singles']} single tasks, "
        f"median of {opts['repeat']} repeats; simulator at 0 ms unless stated; "
        f"{opts['worker_threads']} threads per worker\n"
        f"{meta['machine']}; load average before {meta['load_before']}, "
        f"after {meta['load_after']}; {meta['elapsed_s']:.0f} s\n"
    )


def _line(cells: tuple[str, ...]) -> str:
    label, *values = cells
    parts = [label.ljust(_WIDTHS[0])]
    parts += [v.rjust(w) for v, w in zip(values[:3], _WIDTHS[1:], strict=True)]
    parts.append("  " + values[3] if values[3] else "")
    return "".join(parts).rstrip()
