"""`aiexec demo`: the seed's sample tasks through the running local stack, then an outage.

What a newcomer should see: tasks accepted over HTTP and Pub/Sub, answered by the first provider;
then OpenAI goes down and the same kind of task is answered by Vertex AI, with both attempts on
record — all read back from Firestore.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from aiexec.cli.dashboard import status_url
from aiexec.cli.demo_batch import run_batch_demo
from aiexec.cli.demo_callback import run_callback_demo
from aiexec.cli.demo_structured import run_structured_demo
from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE
from aiexec.cli.tables import print_table
from aiexec.cli.tasks import submit_http, submit_pubsub
from infra.settings import get_settings
from shared.store import TaskStore
from shared.terminal import printable

SAMPLE_TASKS: list[tuple[str, str, str]] = [
    (
        "http",
        "analytical",
        "Analyze the advantages and disadvantages of microservices architecture",
    ),
    ("http", "creative", "Write a short poem about artificial intelligence"),
    ("pubsub", "code", "Write a Python function that checks whether a string is a palindrome"),
    ("pubsub", "general", "Summarize why event-driven systems tolerate provider outages"),
    ("http", "analytical", "Compare synchronous APIs and message queues for long-running jobs"),
]
OUTAGE_TASKS: list[tuple[str, str, str]] = [
    ("http", "creative", "Write a haiku about a server that never sleeps"),
    ("pubsub", "analytical", "List three risks of relying on a single AI provider"),
    ("http", "general", "Draft a friendly reminder about the weekly team meeting"),
]


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run the demo against the running local stack")
    demo.add_argument("--timeout", type=float, default=60.0, help="per-task wait (seconds)")
    demo.set_defaults(func=cmd_demo)


def _sim(provider: str, mode: str) -> None:
    settings = get_settings()
    url = settings.simulator_url or f"http://{settings.host}:{settings.simulator_port}"
    httpx.post(f"{url}/_sim/faults/{provider}", json={"mode": mode}, timeout=10).raise_for_status()


def _submit(via: str, task_type: str, prompt: str) -> str:
    body = {"task_description": prompt, "task_type": task_type}
    if via == "pubsub":
        return submit_pubsub(body, client_id="demo")
    status, answer = submit_http(body)
    if status != 202:
        raise RuntimeError(f"ingest answered {status}: {answer}")
    return str(answer["task_id"])


def _run_batch(
    title: str, batch: list[tuple[str, str, str]], timeout_s: float
) -> list[dict[str, Any]]:
    print(f"\n== {title}")
    store = TaskStore(get_settings())
    ids = [(via, _submit(via, task_type, prompt)) for via, task_type, prompt in batch]
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        tasks = list(pool.map(lambda item: store.wait_for_terminal(item[1], timeout_s), ids))
    rows = [
        _task_cells(via, task_id, task) for (via, task_id), task in zip(ids, tasks, strict=True)
    ]
    print_table(("task", "via", "status", "answered by", "attempts"), rows, indent=2)
    for (_via, task_id), task in zip(ids, tasks, strict=True):
        print(f"  {task_id[:12]}  {printable(_answer(task)[:100])}")
    return [t or {} for t in tasks]


def _task_cells(via: str, task_id: str, task: dict[str, Any] | None) -> tuple[str, ...]:
    if task is None:
        return (task_id[:12], via, "MISSING", "-", "-")
    result = task.get("result") or {}
    path = " -> ".join(
        f"{a['provider']}:{'ok' if a['outcome'] == 'ok' else (a.get('error') or {}).get('code')}"
        for a in task.get("attempts", [])
    )
    who = f"{result['provider']} / {result.get('model', '-')}" if result.get("provider") else "-"
    return (task_id[:12], via, str(task["status"]), who, path)


def _answer(task: dict[str, Any] | None) -> str:
    """The answer (or the error) on one line."""
    task = task or {}
    text = (task.get("result") or {}).get("text") or (task.get("error") or {}).get("message")
    return " ".join(str(text or "").split())


def _weekly_report() -> None:
    """Trigger the report function the way Cloud Scheduler does, then show what it wrote."""
    from aiexec.cli.main import main as aiexec
    from shared.bus import Bus
    from shared.clock import utcnow
    from shared.reports.period import local_today, week_of

    settings = get_settings()
    week = week_of(local_today(utcnow(), settings.report_timezone), settings.report_timezone)
    label = week.label
    print(
        f'\n== 3. Weekly usage report: publishing {{"week": "{label}"}} on '
        f"`{settings.topic_report_requests}` (what Cloud Scheduler sends every Monday)"
    )
    Bus(settings).publish(settings.topic_report_requests, json.dumps({"week": label}).encode())
    store = TaskStore(settings)
    reports = store.client.collection(settings.collection_reports).document(label)
    deadline = time.monotonic() + 60
    while not reports.get().exists and time.monotonic() < deadline:
        time.sleep(0.2)
    print(f"   the report function wrote reports/{label}; `aiexec report --week current`:\n")
    aiexec(["report", "--week", "current"])


def _fallback_trace(outage: list[dict[str, Any]]) -> None:
    """One trace of a task that fell back: ingest, OpenAI's failed calls, Vertex AI's answer."""
    from aiexec.cli.traces import print_trace

    fell = [t for t in outage if (t.get("result") or {}).get("provider") == "vertex"]
    if not fell:
        return
    task_id = str(fell[0]["task_id"])
    print(f"\n== Where the time went: the trace of a fallback task (`aiexec trace {task_id}`)\n")
    print_trace(task_id)


def _models() -> None:
    """The models this configuration calls, against the catalog and the providers' lists."""
    from aiexec.cli.main import main as aiexec

    print("== 0. Models in use (`aiexec models check`)\n")
    aiexec(["models", "check"])


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        _sim("openai", "ok")
        _sim("vertex", "ok")
    except httpx.HTTPError as error:
        print(
            f"aiexec demo: the local stack is not reachable ({error}); run `aiexec up --detach`",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    _models()
    healthy = _run_batch(
        "1. Sample tasks, every provider up (HTTP and Pub/Sub)", SAMPLE_TASKS, args.timeout
    )
    print("\n== 2. OpenAI outage injected: `aiexec sim fault openai down`")
    _sim("openai", "down")
    try:
        outage = _run_batch(
            "   Tasks submitted during the outage fall back to Vertex AI",
            OUTAGE_TASKS,
            args.timeout,
        )
    finally:
        _sim("openai", "ok")
    structured = run_structured_demo(args.timeout)
    called_back = run_callback_demo(args.timeout)
    batched = run_batch_demo(args.timeout)
    _weekly_report()
    tasks = healthy + outage
    done = sum(1 for t in tasks if t.get("status") == "succeeded")
    fell_back = sum(1 for t in outage if (t.get("result") or {}).get("provider") == "vertex")
    print(
        f"\n== Summary: {done}/{len(tasks)} succeeded; {fell_back}/{len(outage)} of the outage "
        "tasks answered by Vertex AI after OpenAI failed. Results are in Firestore `tasks/`."
    )
    _fallback_trace(outage)
    print(
        f"\n== Status page: {status_url(get_settings().ingest_url)} (`aiexec dashboard` opens it "
        "while the stack runs: `make up`)"
    )
    extras = called_back and structured and batched
    return EXIT_OK if done == len(tasks) and extras else EXIT_FAILED
