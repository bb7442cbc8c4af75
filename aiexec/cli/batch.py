"""`aiexec batch …`: the batch lane (issue 16).

`flush` publishes one trigger to `batch-requests` (what Cloud Scheduler does every few minutes,
AIEXEC_BATCH_SCHEDULE): the batcher submits the queued batch tasks, the poller reads the open
jobs. With `--wait S` it keeps triggering (every `--every` seconds, as a fast scheduler would)
until no batch task waits for the batcher and every job is finished, or S seconds pass.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from aiexec.cli.batch_jobs import add_job_commands
from aiexec.cli.main import EXIT_OK, EXIT_TIMEOUT, EXIT_UNREACHABLE
from aiexec.client import ServiceUnreachableError
from aiexec.client.queries import firestore_errors
from infra.settings import get_settings

TRIGGER = b'{"source": "aiexec batch flush"}'


def register(subparsers: Any) -> None:
    batch = subparsers.add_parser(
        "batch", help="the batch lane: flush, and its jobs (list, show, cancel)"
    )
    commands = batch.add_subparsers(dest="batch_command", required=True, metavar="COMMAND")
    flush = commands.add_parser(
        "flush", help="trigger the batcher and the poller now (publishes to batch-requests)"
    )
    flush.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="keep triggering until every batch job is finished (at most S seconds)",
    )
    flush.add_argument(
        "--every", type=float, default=1.0, metavar="S", help="seconds between triggers"
    )
    flush.add_argument("--json", action="store_true", help="machine-readable output")
    flush.set_defaults(func=cmd_flush)
    add_job_commands(commands)  # list, show, cancel (aiexec/cli/batch_jobs.py)


def cmd_flush(args: argparse.Namespace) -> int:
    from shared.bus import Bus
    from shared.firestore.batches import BatchJobs

    settings = get_settings()
    bus, jobs = Bus(settings), BatchJobs(settings)
    started = time.monotonic()
    try:
        with firestore_errors():
            triggers = _flush(bus, jobs, settings.topic_batch_requests, args.wait, args.every)
            left = _pending(jobs)
    except ServiceUnreachableError as error:
        print(f"aiexec batch flush: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    summary = {
        "triggers": triggers,
        "waited_s": round(time.monotonic() - started, 1),
        "pending": left,
    }
    print(json.dumps(summary) if args.json else _sentence(summary, waited=args.wait > 0))
    return EXIT_TIMEOUT if args.wait > 0 and any(left.values()) else EXIT_OK


def _flush(bus: Any, jobs: Any, topic: str, wait_s: float, every_s: float) -> int:
    """Publish triggers until nothing is pending (or once, without a wait); returns how many."""
    deadline = time.monotonic() + wait_s
    triggers = 0
    while True:
        bus.publish(topic, TRIGGER)
        triggers += 1
        if wait_s <= 0:
            return triggers
        # The lane only moves on a trigger (the next scheduler tick): wait for the tick's
        # condition — nothing left pending — or the next tick, whichever comes first.
        tick = min(deadline, time.monotonic() + max(every_s, 0.1))
        while time.monotonic() < tick:
            if not any(_pending(jobs).values()):
                return triggers
            time.sleep(0.2)  # polling Firestore between reads, not waiting out a time
        if time.monotonic() >= deadline:
            return triggers


def _pending(jobs: Any) -> dict[str, int]:
    """What keeps the lane busy: queued batch tasks, and jobs not yet finished."""
    from shared.batch.provider import JobState

    open_states = [s.value for s in JobState if s is not JobState.FINISHED]
    return {
        "queued_tasks": len(jobs.queued_batch_tasks(1)),
        "open_jobs": len(jobs.jobs_in(open_states, limit=100)),
    }


def _sentence(summary: dict[str, Any], *, waited: bool) -> str:
    pending = summary["pending"]
    if not waited:
        return "published a batch trigger (the batcher and the poller run now)"
    if not any(pending.values()):
        return f"batch lane flushed in {summary['waited_s']} s ({summary['triggers']} triggers)"
    return (
        f"still pending after {summary['waited_s']} s: {pending['queued_tasks']} queued batch "
        f"task(s), {pending['open_jobs']} open job(s)"
    )
