"""`aiexec chaos`: the resilience figures on the running local stack (`aiexec up --detach`).

Runs a healthy batch, then the same batch with the primary provider down, and prints: tasks,
succeeded, failed, lost, duplicate provider calls, unrecorded calls, p50/p95 submit→result.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE
from aiexec.cli.tables import print_table


def register(subparsers: Any) -> None:
    chaos = subparsers.add_parser("chaos", help="resilience figures: healthy vs primary down")
    chaos.add_argument("--tasks", type=int, default=50, help="tasks per batch")
    chaos.add_argument("--json", action="store_true", help="machine-readable output")
    chaos.set_defaults(func=cmd_chaos)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def cmd_chaos(args: argparse.Namespace) -> int:
    from infra.chaos import ChaosRunner, figures
    from infra.settings import get_settings

    settings = get_settings()
    sim = settings.simulator_url or f"http://{settings.host}:{settings.simulator_port}"
    runner = ChaosRunner(settings, sim)
    try:
        runner.reset()
    except httpx.HTTPError as error:
        print(f"aiexec chaos: the local stack is not reachable ({error})", file=sys.stderr)
        return EXIT_UNREACHABLE
    primary = settings.providers[0]
    rows = []
    try:
        rows.append(figures(runner.run("healthy", args.tasks)))
        runner.fault(primary, "down")
        rows.append(figures(runner.run(f"{primary}-down", args.tasks)))
    finally:
        runner.reset()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        columns = list(rows[0])
        cells = [[_fmt(row[c]) for c in columns] for row in rows]
        print_table(columns, cells, right=columns[1:])
        healthy, down = rows[0]["p50_ms"], rows[1]["p50_ms"]
        if healthy is not None and down is not None:
            print(
                f"p50 with {primary} down - healthy p50 = {down - healthy:.0f} ms "
                "(target: <= 1000 ms)"
            )
    lost = sum(int(row["lost"]) for row in rows)
    return EXIT_OK if lost == 0 else EXIT_FAILED
