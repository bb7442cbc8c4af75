"""`aiexec bench`: throughput, latency, fallback, cost per task and memory, next to the floor.

Starts its own local stack (free ports, `.aiexec/bench/`), so it runs beside `aiexec up` and
the test suite; prints one table on stdout (progress on stderr) and writes the JSON results.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

DEFAULT_OUT = Path(".aiexec/bench/results.json")


def register(subparsers: Any) -> None:
    bench = subparsers.add_parser(
        "bench", help="benchmark the pipeline against the floor of its infrastructure"
    )
    bench.add_argument("--tasks", type=int, default=1000, help="tasks per batch (default 1000)")
    bench.add_argument(
        "--repeat", type=int, default=3, help="runs of each measurement; medians (default 3)"
    )
    bench.add_argument(
        "--singles", type=int, default=10, help="single tasks per path and repeat (default 10)"
    )
    bench.add_argument(
        "--latency-tasks",
        type=int,
        default=None,
        help="tasks of the slow-provider batch (default: tasks / 4)",
    )
    bench.add_argument(
        "--worker-threads", type=int, default=32, help="request threads per worker (default 32)"
    )
    bench.add_argument(
        "--provider-latency-ms", type=float, default=800.0, help="slow provider: mean latency"
    )
    bench.add_argument(
        "--provider-jitter-ms", type=float, default=200.0, help="slow provider: ± uniform jitter"
    )
    bench.add_argument(
        "--batch-tasks",
        type=int,
        default=10_000,
        help="tasks through the batch lane, once (default 10000; 0 skips it)",
    )
    bench.add_argument("--no-warmup", action="store_true", help="skip the warm-up batches")
    bench.add_argument(
        "--no-peer",
        action="store_true",
        help="skip the peer (LiteLLM's Router) beside the pipeline",
    )
    bench.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="the benchmark stack's state, logs and counters (default .aiexec/bench)",
    )
    bench.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})"
    )
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.harness import Options
    from benchmarks.report import render
    from benchmarks.run import run
    from infra.localstack import StackError

    if min(args.tasks, args.repeat, args.singles, args.worker_threads) < 1 or args.batch_tasks < 0:
        print(
            "aiexec bench: --tasks, --repeat, --singles and --worker-threads must be >= 1, "
            "--batch-tasks >= 0"
        )
        return EXIT_USAGE
    extra = {"state_dir": args.state_dir.resolve()} if args.state_dir else {}
    peer = not args.no_peer
    if peer and importlib.util.find_spec("litellm") is None:
        print(
            "aiexec bench: LiteLLM is not installed (`make bench` installs the `bench` "
            "dependency group): the peer is skipped",
            file=sys.stderr,
        )
        peer = False
    options = Options(
        **extra,
        tasks=args.tasks,
        repeat=args.repeat,
        singles=args.singles,
        latency_tasks=args.latency_tasks,
        worker_threads=args.worker_threads,
        provider_latency_ms=args.provider_latency_ms,
        provider_jitter_ms=args.provider_jitter_ms,
        warmup=not args.no_warmup,
        peer=peer,
        batch_tasks=args.batch_tasks,
    )
    try:
        results = run(options)
    except StackError as error:
        print(f"aiexec bench: the local stack did not start:\n{error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(render(results))
    print(f"\nJSON: {args.out}")
    lost = sum(int(f.get("lost") or 0) for run in results["runs"] for f in run.values())
    lost += int((results.get("batch_lane") or {}).get("lost") or 0)
    return EXIT_OK if lost == 0 else EXIT_FAILED
