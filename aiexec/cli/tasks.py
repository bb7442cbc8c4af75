"""`aiexec submit | get | wait | list | results`: hand tasks over and read results back.

Built on the Python client (`aiexec.client`). Output reads well in a terminal; `--json` prints
documents for scripts. Exit codes (aiexec.cli.main): 0 ok, 1 a task failed (or a request was
refused by the server), 2 usage or validation error, 3 unreachable, 4 timed out waiting.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from aiexec.cli.tasks_render import error, exit_for, print_json, task_summary
from aiexec.client import (
    API_KEY_ENV,
    CLIENT_ENV,
    AIExecClient,
    RequestRefusedError,
    ServiceUnreachableError,
    Submitted,
    Task,
)
from aiexec.client.attachments import attachments
from aiexec.client.files import read_json_file
from infra.settings import get_settings

TASK_TYPES = ("analytical", "creative", "code", "general")


def register(subparsers: Any) -> None:
    from aiexec.cli import tasks_query

    _register_submit(subparsers)
    get = subparsers.add_parser("get", help="show a task")
    get.add_argument("task_id", help="a task id, or a whole document id (client~task_id)")
    _client_option(get)
    get.add_argument("--json", action="store_true", help="print the task document as JSON")
    get.set_defaults(func=cmd_get)

    wait = subparsers.add_parser("wait", help="wait until a task is finished, then show it")
    wait.add_argument("task_id", help="a task id, or a whole document id (client~task_id)")
    _client_option(wait)
    wait.add_argument("--timeout", type=float, default=60.0, metavar="S")
    wait.add_argument("--json", action="store_true", help="print the task document as JSON")
    wait.set_defaults(func=cmd_wait)
    tasks_query.register(subparsers)  # list, results


def _client_option(parser: Any) -> None:
    parser.add_argument(
        "--client", metavar="CLIENT",
        help="read CLIENT's task (API keys on: tasks/CLIENT~TASK_ID); default: "
        f"${CLIENT_ENV} where API keys are required",
    )  # fmt: skip


def _register_submit(subparsers: Any) -> None:
    submit = subparsers.add_parser(
        "submit", help="submit one task, or every task of a file (--file)"
    )
    submit.add_argument("prompt", nargs="?", help="the task description; `-` reads stdin")
    submit.add_argument("--type", dest="task_type", choices=TASK_TYPES)
    submit.add_argument("--id", dest="task_id", help="client-chosen task id (idempotency key)")
    submit.add_argument("--system", help="system instruction")
    submit.add_argument("--providers", help="comma-separated chain for this task")
    submit.add_argument(
        "--model", action="append", metavar="PROVIDER=MODEL", default=[],
        help="explicit model for a provider (repeatable)",
    )  # fmt: skip
    submit.add_argument("--max-output-tokens", type=int, metavar="N")
    submit.add_argument("--temperature", type=float, metavar="T")
    submit.add_argument(
        "--callback",
        dest="callback_url",
        metavar="URL",
        help="POST the finished task here, "
        "signed (Standard Webhooks; verify with aiexec.client.webhooks.verify)",
    )
    submit.add_argument(
        "--deadline",
        dest="deadline_s",
        type=float,
        metavar="S",
        help="seconds from now by which the task must end (else it expires)",
    )
    submit.add_argument(
        "--mode", choices=["online", "batch"],
        help="the lane: online (default) or batch (the provider's batch API at batch prices, "
        "within the deadline: at least 3600 s, default 24 h); with --file, for every task "
        "that has none",
    )  # fmt: skip
    submit.add_argument(
        "--schema", dest="schema_file", type=Path, metavar="FILE",
        help="a JSON Schema the answer must follow (its parsed answer: result.json); "
        "with --file, for every task that has none",
    )  # fmt: skip
    submit.add_argument(
        "--attach", action="append", metavar="URI", default=[],
        help="attach a file: gs://bucket/object (`aiexec upload` prints one) or https://...; "
        "its type guessed from the name, or TYPE@URI (repeatable)",
    )  # fmt: skip
    submit.add_argument(
        "--messages", dest="messages_file", type=Path, metavar="FILE",
        help="a conversation (JSON array of {role, content}) instead of a prompt",
    )  # fmt: skip
    submit.add_argument(
        "--metadata", action="append", metavar="KEY=VALUE", default=[],
        help="echoed in the task document and the export (repeatable)",
    )  # fmt: skip
    submit.add_argument(
        "--via", choices=["http", "pubsub"], default="http",
        help="POST to the ingest function (default) or publish to the `tasks` topic",
    )  # fmt: skip
    submit.add_argument(
        "--wait", type=float, default=0, metavar="S", help="wait up to S seconds for the result"
    )
    submit.add_argument("--json", action="store_true", help="machine-readable output")
    from aiexec.cli.tasks_batch import add_file_options

    add_file_options(submit)
    submit.set_defaults(func=cmd_submit)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{option}: expected KEY=VALUE, got {item!r}")
        pairs[key.strip()] = value
    return pairs


def request_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The request body the options describe (validated later, by the client)."""
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    body: dict[str, Any] = {} if prompt is None else {"task_description": prompt}
    if args.messages_file is not None:
        body["messages"] = read_json_file(args.messages_file, list, "--messages")
    if args.schema_file is not None:
        body["response_schema"] = read_json_file(args.schema_file, dict, "--schema")
    names = ("task_id", "task_type", "system", "max_output_tokens", "temperature")
    for name in (*names, "callback_url", "deadline_s", "mode"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.attach:
        body["attachments"] = attachments(args.attach)  # ValueError: a type it cannot tell
    if args.providers:
        body["providers"] = [p.strip() for p in args.providers.split(",") if p.strip()]
    if args.model:
        body["model"] = _pairs(args.model, "--model")
    if args.metadata:
        body["metadata"] = _pairs(args.metadata, "--metadata")
    return body


def _usage_problem(args: argparse.Namespace) -> str | None:
    # A conversation (--messages) is a prompt too; giving both is the server's 400 to explain.
    if bool(args.file) == bool(args.prompt or args.messages_file):
        return (
            "submit: give a prompt (`-` reads it from stdin), --messages FILE, "
            "or --file tasks.jsonl|.csv"
        )
    if args.file and args.attach:
        return "submit: --attach is for one task; in --file, give each task its `attachments`"
    return None


def cmd_submit(args: argparse.Namespace) -> int:
    problem = _usage_problem(args)
    if problem is not None:
        error(problem)
        return EXIT_USAGE
    if args.file:
        from aiexec.cli.tasks_batch import cmd_submit_file

        return cmd_submit_file(args)
    try:
        body = request_from_args(args)
        with AIExecClient(via=args.via, client_id=os.environ.get(CLIENT_ENV) or "cli") as client:
            submitted = client.submit(body, wait_s=args.wait)
    except ValueError as problem:  # includes TaskValidationError: nothing was sent
        error(f"invalid task: {problem}")
        return EXIT_USAGE
    except RequestRefusedError as refused:
        error(f"ingest refused the task: {refused}")
        return EXIT_USAGE if refused.status < 500 else EXIT_FAILED
    except ServiceUnreachableError as down:
        error(str(down))
        return EXIT_UNREACHABLE
    _print_submitted(submitted, args.json)
    return exit_for(submitted.status) if args.wait else EXIT_OK


def _print_submitted(submitted: Submitted, as_json: bool) -> None:
    if as_json:
        document = submitted.task.document if submitted.task else {}
        print_json(
            {"task_id": submitted.task_id, "status": submitted.status, "via": submitted.via}
            | ({"status_url": submitted.status_url} if submitted.status_url else {})
            | document
        )
    elif submitted.task is not None:
        print(task_summary(submitted.task))
    else:
        print(f"task {submitted.task_id}: {submitted.status} (via {submitted.via})")
        print(f"  follow it with: aiexec wait {submitted.task_id}")


def cmd_get(args: argparse.Namespace) -> int:
    return _read_task(args, lambda client: client.get(args.task_id), final=False)


def cmd_wait(args: argparse.Namespace) -> int:
    return _read_task(args, lambda client: client.wait(args.task_id, args.timeout), final=True)


def _read_task(args: argparse.Namespace, fetch: Callable[[AIExecClient], Any], final: bool) -> int:
    """Print one task; `final`: the exit code tells how it ended (for `wait`)."""
    try:
        named = getattr(args, "client", None)
        with AIExecClient(client_id=named, namespaced=True if named else None) as client:
            task = fetch(client)
    except ServiceUnreachableError as down:
        error(str(down))
        return EXIT_UNREACHABLE
    if task is None:
        error(f"no task {args.task_id}")
        return EXIT_FAILED
    _show(task, args.json)
    return exit_for(task.status) if final else EXIT_OK


def _show(task: Task, as_json: bool) -> None:
    if as_json:
        print_json(task.document)
    else:
        print(task_summary(task))


# --- kept for `aiexec demo` and scripts that import them ---------------------------------


def submit_http(body: dict[str, Any], wait_s: float = 0) -> tuple[int, dict[str, Any]]:
    """POST /tasks as is (no local validation): ingest's status code and JSON answer."""
    settings = get_settings()
    params = {"wait": f"{wait_s:g}"} if wait_s else None
    headers = {"Authorization": f"Bearer {key}"} if (key := _api_key()) else None
    response = httpx.post(
        f"{settings.ingest_url}/tasks", json=body, params=params, headers=headers,
        timeout=wait_s + 30,
    )  # fmt: skip
    answer: dict[str, Any] = response.json()
    return response.status_code, answer


def submit_pubsub(body: dict[str, Any], client_id: str = "cli") -> str:
    """Publish to `tasks` (validated first); returns the task id, chosen here if absent."""
    with AIExecClient(via="pubsub", client_id=client_id) as client:
        return client.submit(body).task_id


def _api_key() -> str | None:
    return os.environ.get(API_KEY_ENV) or None
