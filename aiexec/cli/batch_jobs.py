"""`aiexec batch list | show JOB | cancel JOB`: the batch lane's jobs (`batch_jobs/{job_id}`).

`cancel` asks the provider to cancel the job, through the same batch adapter the poller uses
(shared/providers/<name>/batch.py), and records the job `cancelling`; the poller then reads the
provider's `cancelled` on its next run and moves the job's unanswered tasks to the online lane
(lines already answered are kept: nothing is charged twice). A job not submitted yet
(`preparing`) or already ended cannot be cancelled: the command says so (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from aiexec.cli.tables import print_table
from aiexec.client import ServiceUnreachableError
from aiexec.client.queries import firestore_errors
from infra.settings import Settings, get_settings
from shared.batch.provider import JobState
from shared.clock import utcnow
from shared.task_view import jsonable

_COLUMNS = ("job_id", "provider", "model", "state", "tasks", "created", "age", "counts")
_CANCELLABLE = (JobState.SUBMITTED.value, JobState.RUNNING.value)
STATES = tuple(state.value for state in JobState)


def add_job_commands(commands: Any) -> None:
    """`list`, `show` and `cancel` under `aiexec batch` (aiexec/cli/batch.py)."""
    listing = commands.add_parser("list", help="the newest batch jobs (or those in --state)")
    listing.add_argument(
        "--state", default="", help=f"comma-separated states: {', '.join(STATES)}, or `open`"
    )
    listing.add_argument("--limit", type=int, default=20, help="at most this many jobs")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_list)

    show = commands.add_parser("show", help="one job: state, provider job, files, counts")
    show.add_argument("job_id", help="the job id (bj_…)")
    show.add_argument("--tasks", action="store_true", help="list its task ids too")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=cmd_show)

    cancel = commands.add_parser(
        "cancel", help="cancel a submitted job at its provider; its tasks then run online"
    )
    cancel.add_argument("job_id", help="the job id (bj_…)")
    cancel.add_argument("--json", action="store_true", help="machine-readable output")
    cancel.set_defaults(func=cmd_cancel)


def _overview(settings: Settings) -> Any:
    from shared.firestore.batch_overview import BatchOverview
    from shared.firestore.client import LazyClient

    return BatchOverview(settings, LazyClient(settings, counted=False))


def _run(action: Any, args: argparse.Namespace) -> int:
    try:
        with firestore_errors():
            code: int = action(get_settings(), args)
            return code
    except ServiceUnreachableError as error:
        print(f"aiexec batch: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _states(text: str) -> list[str] | None:
    """The states `--state` names (`open`: all but finished); None when one is unknown."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    expanded = [s for n in names for s in (STATES[:-1] if n == "open" else (n,))]
    if any(name not in STATES for name in expanded):
        return None
    return list(dict.fromkeys(expanded))


def cmd_list(args: argparse.Namespace) -> int:
    states = _states(args.state)
    if states is None or args.limit < 1:
        print(f"aiexec batch list: --state takes {', '.join(STATES)} or open", file=sys.stderr)
        return EXIT_USAGE
    return _run(lambda settings, a: _list(settings, a, states), args)


def _list(settings: Settings, args: argparse.Namespace, states: list[str]) -> int:
    jobs = _overview(settings).recent(args.limit, states)
    if args.json:
        print(json.dumps([jsonable(job) for job in jobs]))
        return EXIT_OK
    if not jobs:
        print("no batch jobs" + (f" in {', '.join(states)}" if states else ""))
        return EXIT_OK
    now = utcnow()
    rows = [
        (
            job.get("job_id", ""),
            job.get("provider", ""),
            job.get("model", ""),
            job.get("state", ""),
            job.get("task_count", 0),
            _when(job.get("created_at")),
            _age(job.get("created_at"), now),
            _counts(job.get("counts")),
        )
        for job in jobs
    ]
    print_table(_COLUMNS, rows, right=("tasks", "age"))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    return _run(_show, args)


def _show(settings: Settings, args: argparse.Namespace) -> int:
    job = _overview(settings).get(args.job_id)
    if job is None:
        print(f"aiexec batch show: no batch job {args.job_id}", file=sys.stderr)
        return EXIT_FAILED
    if not args.tasks:
        job.pop("task_ids", None)
    if args.json:
        print(json.dumps(jsonable(job)))
        return EXIT_OK
    shown = ("task_ids",) if args.tasks else ()
    fields = [name for name in sorted(job) if name not in shown]
    print_table(("field", "value"), [(name, _value(job[name])) for name in fields])
    if args.tasks:
        print("\n".join(str(task_id) for task_id in job.get("task_ids") or []))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    return _run(_cancel, args)


def _cancel(settings: Settings, args: argparse.Namespace) -> int:
    from shared.firestore.batches import BatchJobs
    from shared.providers.base import ErrorKind, ProviderError
    from shared.providers.registry import get_batch_provider

    jobs = BatchJobs(settings)
    job = jobs.job(args.job_id)
    if job is None:
        print(f"aiexec batch cancel: no batch job {args.job_id}", file=sys.stderr)
        return EXIT_FAILED
    state = str(job.get("state"))
    if state not in _CANCELLABLE or not job.get("provider_job_id"):
        why = "not submitted yet" if state == JobState.PREPARING.value else "not running"
        print(f"aiexec batch cancel: job {args.job_id} is {state} ({why})", file=sys.stderr)
        return EXIT_USAGE
    try:
        get_batch_provider(str(job["provider"]), settings).cancel(str(job["provider_job_id"]))
    except ProviderError as error:
        print(f"aiexec batch cancel: {job['provider']} refused: {error.code}", file=sys.stderr)
        return EXIT_UNREACHABLE if error.kind is ErrorKind.TRANSIENT else EXIT_FAILED
    jobs.update_job(args.job_id, state=JobState.CANCELLING.value, cancel_requested_at=utcnow())
    answer = {"job_id": args.job_id, "state": JobState.CANCELLING.value, "was": state}
    print(json.dumps(answer) if args.json else _cancelled_sentence(job))
    return EXIT_OK


def _cancelled_sentence(job: dict[str, Any]) -> str:
    return (
        f"cancelling {job['job_id']} at {job['provider']} ({job.get('task_count', 0)} task(s)); "
        "the poller moves its unanswered tasks to the online lane once the provider has "
        "cancelled it (`aiexec batch flush` to poll now)"
    )


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return _when(value)
    if isinstance(value, dict | list):
        return json.dumps(jsonable(value), sort_keys=True)
    return "" if value is None else str(value)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else ""


def _age(value: Any, now: datetime) -> str:
    if not isinstance(value, datetime):
        return ""
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _counts(counts: Any) -> str:
    if not isinstance(counts, dict) or not counts:
        return ""
    return " ".join(f"{name}={counts[name]}" for name in sorted(counts))
