"""`aiexec status | sweep | replay`: operating the pipeline when a provider has a bad day."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import timedelta
from typing import Any

from shared.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from shared.http_api import jsonable
from shared.settings import get_settings
from shared.store import TaskStore, utcnow

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def register(subparsers: Any) -> None:
    status = subparsers.add_parser("status", help="circuit states and task counts by status")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    sweep = subparsers.add_parser("sweep", help="re-publish stuck tasks, expire overdue ones")
    sweep.set_defaults(func=cmd_sweep)

    replay = subparsers.add_parser("replay", help="re-run failed tasks, keeping their history")
    replay.add_argument("task_ids", nargs="*", help="failed task ids")
    replay.add_argument("--since", help="every task failed within this long, e.g. 1h, 2d")
    replay.set_defaults(func=cmd_replay)


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 1h, 2d)")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def cmd_status(args: argparse.Namespace) -> int:
    from shared.circuit import circuit_states

    settings = get_settings()
    store = TaskStore(settings)
    circuits = circuit_states(settings, store.client)
    counts = {}
    for status in ("queued", "running", "succeeded", "failed", "rejected"):
        counts[status] = store.count(status)
    if args.json:
        print(json.dumps(jsonable({"circuits": circuits, "tasks": counts})))
        return EXIT_OK
    print("providers (chain order):")
    for name, circuit in circuits.items():
        opened = f" since {circuit['opened_at']:%H:%M:%S}" if circuit.get("opened_at") else ""
        print(f"  {name:<10} circuit {circuit['state']}{opened}")
    print("tasks: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from shared.bus import Bus
    from shared.sweeper import Sweeper

    settings = get_settings()
    report = Sweeper(settings, TaskStore(settings), Bus(settings)).sweep()
    print(json.dumps(report.as_dict()))
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from shared.bus import Bus
    from shared.fallback import topic_for_hop
    from shared.schemas import TaskMessage

    settings = get_settings()
    store = TaskStore(settings)
    ids = list(args.task_ids)
    if args.since:
        try:
            since = utcnow() - parse_duration(args.since)
        except ValueError as error:
            print(f"aiexec replay: {error}", file=sys.stderr)
            return EXIT_USAGE
        ids += [t["task_id"] for t in store.query_since("failed", "completed_at", since)]
    if not ids:
        print("aiexec replay: name task ids or --since", file=sys.stderr)
        return EXIT_USAGE
    bus, replayed = Bus(settings), []
    for task_id in dict.fromkeys(ids):
        task = store.replay(task_id)
        if task is None:
            print(f"  {task_id}: not failed (or missing); left alone", file=sys.stderr)
            continue
        message = TaskMessage(task_id=task_id, chain=task["chain"], hop=0, reason="replay")
        bus.publish(topic_for_hop(settings, task["chain"], 0), message.model_dump_json().encode())
        replayed.append(task_id)
    print(json.dumps({"replayed": replayed}))
    return EXIT_OK if len(replayed) == len(dict.fromkeys(ids)) else EXIT_FAILED
