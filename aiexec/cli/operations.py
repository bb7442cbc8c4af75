"""`aiexec status | sweep | replay`: operating the pipeline when a provider has a bad day."""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from aiexec.cli.tables import print_table
from aiexec.client import API_KEY_ENV, AIExecClient, ServiceUnreachableError
from aiexec.client.queries import firestore_errors
from aiexec.client.timespec import parse_duration, parse_since
from infra.settings import Settings, get_settings
from shared.http_api import jsonable
from shared.store import TaskStore

__all__ = ["parse_duration", "register"]
HEALTH_TIMEOUT_S = 3.0


def register(subparsers: Any) -> None:
    status = subparsers.add_parser(
        "status", help="what answers (stack, ingest), providers and circuits, task counts"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    sweep = subparsers.add_parser("sweep", help="re-publish stuck tasks, expire overdue ones")
    sweep.set_defaults(func=cmd_sweep)

    replay = subparsers.add_parser("replay", help="re-run failed tasks, keeping their history")
    replay.add_argument(
        "task_ids", nargs="*", help="failed task document ids (client~task_id with API keys)"
    )
    replay.add_argument(
        "--since", help="every task failed since: a duration (1h, 2d) or an ISO 8601 time"
    )
    replay.set_defaults(func=cmd_replay)


def stack_parts(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each local-stack process and whether it answers (only when emulators are configured)."""
    if not (settings.pubsub_emulator_host or settings.firestore_emulator_host):
        return {}  # a cloud deployment: there is no local stack to probe
    from aiexec.cli.stack import repo_root, state_dir
    from infra.localstack import StackError
    from infra.localstack.components import stack_components
    from infra.localstack.procs import probe

    root = repo_root()
    try:
        components = stack_components(settings, state_dir(settings, root), root)
    except StackError as problem:
        return {"local stack": {"url": "-", "answers": False, "error": str(problem)}}
    with ThreadPoolExecutor(max_workers=len(components)) as pool:
        answers = pool.map(lambda c: probe(c.probe_url, c.expect), components)
        return {
            c.name: {"url": c.url, "answers": a} for c, a in zip(components, answers, strict=True)
        }


def ingest_health(settings: Settings) -> dict[str, Any]:
    """`GET /health` of the ingest function, or why it could not be read. With API keys
    required, /health shows the providers and circuits only to a caller with a key: send
    `$AIEXEC_API_KEY` when it is set."""
    url = f"{settings.ingest_url.rstrip('/')}/health"
    key = os.environ.get(API_KEY_ENV)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=HEALTH_TIMEOUT_S, trust_env=False)
        body = response.json()
    except (httpx.HTTPError, ValueError) as problem:
        return {"url": settings.ingest_url, "answers": False, "error": str(problem)}
    health: dict[str, Any] = body if isinstance(body, dict) else {}
    return {"url": settings.ingest_url, "answers": response.status_code == 200} | health


def providers_view(
    settings: Settings, health: dict[str, Any], circuits: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each provider of the chain: model and configuration (from /health when it answered,
    else from the local settings) and its circuit as Firestore holds it."""
    reported = {p.get("name"): p for p in health.get("providers", []) if isinstance(p, dict)}
    view = []
    for name in settings.providers:
        seen = reported.get(name, {})
        circuit = circuits.get(name, {})
        view.append(
            {
                "name": name,
                "model": seen.get("model", settings.default_model(name)),
                "configured": seen.get("configured", settings.provider_configured(name)),
                "circuit": circuit.get("state", seen.get("circuit", "unknown")),
                "failures": circuit.get("failures"),
                "opened_at": circuit.get("opened_at"),
            }
        )
    return view


def collect_status(settings: Settings) -> dict[str, Any]:
    from shared.circuit import circuit_states

    status: dict[str, Any] = {"stack": stack_parts(settings), "ingest": ingest_health(settings)}
    circuits: dict[str, dict[str, Any]] = {}
    try:
        with AIExecClient(settings) as client:
            status["tasks"] = client.counts()
            with firestore_errors():
                circuits = circuit_states(settings, client.store.client)
    except ServiceUnreachableError as down:
        status["tasks"] = None
        status["firestore_error"] = str(down)
    status["circuits"] = circuits
    status["providers"] = providers_view(settings, status["ingest"], circuits)
    return status


def cmd_status(args: argparse.Namespace) -> int:
    status = collect_status(get_settings())
    healthy = (
        all(part["answers"] for part in status["stack"].values())
        and status["ingest"]["answers"]
        and status["tasks"] is not None
    )
    if args.json:
        print(json.dumps(jsonable(status | {"healthy": healthy})))
    else:
        _print_status(status)
    return EXIT_OK if healthy else EXIT_UNREACHABLE


def _print_status(status: dict[str, Any]) -> None:
    if status["stack"]:
        print("local stack:")
        print_table(
            ("part", "url", "state"),
            [
                (name, part["url"], "answers" if part["answers"] else "DOES NOT ANSWER")
                for name, part in status["stack"].items()
            ],
            indent=2,
        )
    ingest = status["ingest"]
    state = f"ok, version {ingest.get('version')}" if ingest["answers"] else ingest.get("error")
    print(f"ingest {ingest['url']}: {state}")
    print("providers (chain order):")
    print_table(
        ("provider", "model", "key", "circuit"), map(_provider_row, status["providers"]), indent=2
    )
    if status["tasks"] is None:
        print(f"tasks: unknown ({status.get('firestore_error')})")
    else:
        print("tasks: " + ", ".join(f"{k} {v}" for k, v in status["tasks"].items()))


def _provider_row(p: dict[str, Any]) -> tuple[str, str, str, str]:
    circuit = str(p["circuit"])
    if p.get("opened_at"):
        circuit += f" since {p['opened_at']:%H:%M:%S}"
    if p.get("failures"):
        circuit += f" ({p['failures']} failures in the window)"
    configured = "configured" if p["configured"] else "NOT CONFIGURED"
    return p["name"], p["model"] or "-", configured, circuit


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
    from shared.task_ids import doc_id_of

    settings = get_settings()
    store = TaskStore(settings)
    ids = list(args.task_ids)
    if args.since:
        try:
            since = parse_since(args.since)
        except ValueError as error:
            print(f"aiexec replay: {error}", file=sys.stderr)
            return EXIT_USAGE
        ids += [doc_id_of(t) for t in store.query_since("failed", "completed_at", since)]
    elif not ids:
        print("aiexec replay: name task ids or --since", file=sys.stderr)
        return EXIT_USAGE
    bus, replayed = Bus(settings), []
    for doc_id in dict.fromkeys(ids):  # document ids: `client~task_id` with API keys
        task = store.replay(doc_id)
        if task is None:
            print(f"  {doc_id}: not failed (or missing); left alone", file=sys.stderr)
            continue
        message = TaskMessage(
            task_id=task["task_id"], doc_id=doc_id, chain=task["chain"], hop=0, reason="replay"
        )
        bus.publish(topic_for_hop(settings, task["chain"], 0), message.model_dump_json().encode())
        replayed.append(doc_id)
    print(json.dumps({"replayed": replayed}))
    return EXIT_OK if len(replayed) == len(dict.fromkeys(ids)) else EXIT_FAILED
