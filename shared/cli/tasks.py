"""`aiexec submit | get | wait`: hand tasks over and read results back from Firestore."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from shared.cli.main import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE
from shared.http_api import jsonable
from shared.settings import get_settings
from shared.store import TaskStore


def register(subparsers: Any) -> None:
    submit = subparsers.add_parser("submit", help="submit one task")
    submit.add_argument("prompt", help="the task description (the prompt)")
    submit.add_argument(
        "--type", dest="task_type", choices=["analytical", "creative", "code", "general"]
    )
    submit.add_argument("--id", dest="task_id", help="client-chosen task id (idempotency key)")
    submit.add_argument("--system", help="system instruction")
    submit.add_argument("--providers", help="comma-separated chain for this task")
    submit.add_argument(
        "--via",
        choices=["http", "pubsub"],
        default="http",
        help="POST to the ingest function or publish to the `tasks` topic",
    )
    submit.add_argument(
        "--wait", type=float, default=0, metavar="S", help="wait up to S seconds for the result"
    )
    submit.set_defaults(func=cmd_submit)

    get = subparsers.add_parser("get", help="print a task document")
    get.add_argument("task_id")
    get.set_defaults(func=cmd_get)

    wait = subparsers.add_parser("wait", help="wait until a task is finished")
    wait.add_argument("task_id")
    wait.add_argument("--timeout", type=float, default=60.0)
    wait.set_defaults(func=cmd_wait)


def _request(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"task_description": args.prompt}
    for name in ("task_id", "task_type", "system"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    if args.providers:
        body["providers"] = [p.strip() for p in args.providers.split(",") if p.strip()]
    return body


def submit_http(body: dict[str, Any], wait_s: float = 0) -> tuple[int, dict[str, Any]]:
    settings = get_settings()
    params = {"wait": f"{wait_s:g}"} if wait_s else None
    response = httpx.post(
        f"{settings.ingest_url}/tasks", json=body, params=params, timeout=wait_s + 30
    )
    return response.status_code, response.json()


def submit_pubsub(body: dict[str, Any], client_id: str = "cli") -> str:
    """Publish to `tasks`; the id is chosen here so the caller can follow the task."""
    from uuid import uuid4

    from shared.bus import Bus

    settings = get_settings()
    body = {"task_id": uuid4().hex} | body
    Bus(settings).publish(settings.topic_tasks, json.dumps(body).encode(), client_id=client_id)
    return str(body["task_id"])


def cmd_submit(args: argparse.Namespace) -> int:
    body = _request(args)
    try:
        if args.via == "pubsub":
            task_id = submit_pubsub(body)
            if not args.wait:
                print(json.dumps({"task_id": task_id, "status": "published"}))
                return EXIT_OK
            return _print_waited(task_id, args.wait)
        status, answer = submit_http(body, args.wait)
    except httpx.HTTPError as error:
        print(
            f"aiexec: cannot reach ingest at {get_settings().ingest_url}: {error}", file=sys.stderr
        )
        return EXIT_UNREACHABLE
    print(json.dumps(answer, indent=2))
    if status >= 400:
        return EXIT_USAGE if status < 500 else EXIT_FAILED
    return _exit_for(answer.get("status")) if args.wait else EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    task = TaskStore(get_settings()).get(args.task_id)
    if task is None:
        print(f"aiexec: no task {args.task_id}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(jsonable(task), indent=2))
    return EXIT_OK


def cmd_wait(args: argparse.Namespace) -> int:
    return _print_waited(args.task_id, args.timeout)


def _print_waited(task_id: str, timeout_s: float) -> int:
    task = TaskStore(get_settings()).wait_for_terminal(task_id, timeout_s)
    if task is None:
        print(f"aiexec: no task {task_id}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(jsonable(task), indent=2))
    return _exit_for(task["status"])


def _exit_for(status: str | None) -> int:
    if status == "succeeded":
        return EXIT_OK
    if status in ("failed", "rejected"):
        return EXIT_FAILED
    return EXIT_TIMEOUT if status in ("queued", "running") else EXIT_OK
