"""`aiexec trace <task_id>`: a task's trace as a span tree with timings.

The task document names its trace (`trace_id`, written at ingest); the spans come from the
local stack's collector (`GET /traces/<trace_id>`, infra/trace_collector.py). A deployed system
exports to Cloud Trace instead: the command then prints the link (AIEXEC_TRACE_LINK_TEMPLATE).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import httpx

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_UNREACHABLE
from aiexec.client import AIExecClient
from aiexec.client.errors import ServiceUnreachableError
from infra.localstack.envs import base_url
from infra.settings import Settings, get_settings
from infra.trace_tree import finished, render_tree

POLL_S = 0.2  # between reads of the collector while the last hop's spans are on their way


def register(subparsers: Any) -> None:
    cmd = subparsers.add_parser("trace", help="print a task's trace (span tree with timings)")
    cmd.add_argument("task_id")
    cmd.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="S",
        help="wait up to S seconds for the trace to be whole (default 10)",
    )
    cmd.add_argument("--client", help="the task's client (with API keys)")
    cmd.add_argument("--json", action="store_true", help="the spans as JSON")
    cmd.set_defaults(func=cmd_trace)


def collector_url(settings: Settings) -> str:
    """The local stack's trace collector."""
    return base_url(settings, settings.trace_collector_port)


def fetch_spans(settings: Settings, trace_id: str, wait_s: float) -> list[dict[str, Any]]:
    """The trace's spans once it looks whole (`finished`), or what is there after `wait_s`.
    Raises httpx.HTTPError when the collector cannot be reached."""
    url = f"{collector_url(settings)}/traces/{trace_id}?format=json"
    deadline = time.monotonic() + wait_s
    while True:
        answer = httpx.get(url, timeout=10)
        spans: list[dict[str, Any]] = answer.json().get("spans", []) if answer.is_success else []
        if finished(spans) or time.monotonic() >= deadline:
            return spans
        time.sleep(POLL_S)


def task_trace_id(task_id: str, client: str | None = None) -> str | None:
    """The trace id the task's document records; None without one (or without the task).
    Raises ServiceUnreachableError when Firestore cannot be reached."""
    with AIExecClient(client_id=client, namespaced=True if client else None) as reader:
        task = reader.get(task_id)
    return str(task.document.get("trace_id") or "") or None if task is not None else None


def print_trace(task_id: str, *, wait_s: float = 10.0, client: str | None = None) -> int:
    """Print the task's span tree; the exit code (also for the demo)."""
    return _run(task_id, wait_s, client, as_json=False)


def cmd_trace(args: argparse.Namespace) -> int:
    return _run(args.task_id, args.wait, args.client, as_json=args.json)


def _run(task_id: str, wait_s: float, client: str | None, *, as_json: bool) -> int:
    settings = get_settings()
    try:
        trace_id = task_trace_id(task_id, client)
    except ServiceUnreachableError as down:
        print(f"aiexec: {down}")
        return EXIT_UNREACHABLE
    if trace_id is None:
        print(f"aiexec: task {task_id} not found, or it records no trace_id")
        return EXIT_FAILED
    link = settings.trace_link(settings.project_id, trace_id)
    try:
        spans = fetch_spans(settings, trace_id, wait_s)
    except httpx.HTTPError as error:
        print(f"aiexec: the trace collector at {collector_url(settings)} is unreachable ({error})")
        print(f"trace {trace_id}: {link}")
        return EXIT_UNREACHABLE
    if as_json:
        document = {"task_id": task_id, "trace_id": trace_id, "link": link, "spans": spans}
        print(json.dumps(document, indent=2))
    else:
        print(render_tree(trace_id, spans))
        if spans and not finished(spans):
            print(f"(incomplete after {wait_s:g} s: spans still on their way)")
        print(f"link: {link}")
    return EXIT_OK if spans else EXIT_TIMEOUT
