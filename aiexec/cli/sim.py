"""`aiexec sim fault | model | batch | status | reset`: drive the local provider simulator's
faults, model lifecycle and batch jobs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import httpx

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from infra.settings import Settings
from infra.simulator.client import SimulatorClient, SimulatorControlError
from infra.simulator.faults import MODES, PROVIDERS

# CLI option -> control-API field; options left out keep the simulator's defaults.
_FAULT_OPTIONS = {
    "retry_after": "retry_after_s",
    "delay": "delay_s",
    "rate": "failure_rate",
    "status": "status",
}


def register(subparsers: Any) -> None:
    sim = subparsers.add_parser("sim", help="control the local provider simulator")
    actions = sim.add_subparsers(dest="sim_command", required=True, metavar="ACTION")

    fault = actions.add_parser(
        "fault",
        help="set a provider's fault mode",
        description="The batch-* modes (batch-fail, batch-expire, batch-line-errors) affect "
        "the provider's batch jobs created while the mode is set; online calls answer. "
        "ok clears any mode.",
    )
    fault.add_argument("provider", choices=PROVIDERS)
    fault.add_argument("mode", choices=MODES)
    fault.add_argument(
        "--retry-after", type=float, metavar="S", help="rate-limit: Retry-After seconds"
    )
    fault.add_argument("--delay", type=float, metavar="S", help="slow: seconds before answering")
    fault.add_argument("--rate", type=float, metavar="R", help="flaky: failure probability 0..1")
    fault.add_argument("--status", type=int, metavar="N", help="down/flaky: HTTP status")
    fault.set_defaults(func=cmd_fault)

    status = actions.add_parser("status", help="show fault modes and call counters")
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    status.set_defaults(func=cmd_status)

    reset = actions.add_parser(
        "reset", help="all providers ok, counters zeroed, models as in the catalog"
    )
    reset.set_defaults(func=cmd_reset)
    _register_model(actions)
    _register_batch(actions)


def _register_batch(actions: Any) -> None:
    batch = actions.add_parser(
        "batch",
        help="show the batch jobs, or set how long one takes",
        description="Batch jobs (OpenAI Batches, Vertex AI batch prediction) finish --delay "
        "seconds after their creation (default AIEXEC_SIM_BATCH_DELAY_S); a new delay applies "
        "to jobs created afterwards.",
    )
    batch.add_argument("--delay", type=float, metavar="S", help="seconds a new job takes")
    batch.add_argument("--json", action="store_true", help="print the raw JSON")
    batch.set_defaults(func=cmd_batch)


def _register_model(actions: Any) -> None:
    model = actions.add_parser(
        "model",
        help="show or change whether the simulator serves a model",
        description="Without an option, show how the model stands. A model is served when the "
        "catalog knows it and its shutdown date has not come; a retired or unknown model "
        "answers the provider's own 404.",
    )
    model.add_argument("provider", choices=PROVIDERS)
    model.add_argument("model", help="model id, e.g. gpt-6.1-terra or gemini-3.8-flash")
    change = model.add_mutually_exclusive_group()
    change.add_argument(
        "--shutdown-date",
        metavar="YYYY-MM-DD|none",
        help="set the shutdown date (a past date retires it; none: served, even when the "
        "catalog does not know the model)",
    )
    change.add_argument("--retired", action="store_true", help="retire it now: calls get 404")
    change.add_argument("--reset", action="store_true", help="back to what the catalog says")
    model.add_argument("--json", action="store_true", help="print the raw JSON")
    model.set_defaults(func=cmd_model)


def simulator_url() -> str:
    settings = Settings()
    return settings.simulator_url or f"http://127.0.0.1:{settings.simulator_port}"


def _run(action: Callable[[SimulatorClient], None]) -> int:
    client = SimulatorClient(simulator_url())
    try:
        action(client)
    except httpx.TransportError as exc:
        print(
            f"aiexec sim: the provider simulator is not reachable at {client.url} "
            f"({exc.__class__.__name__}); start the local stack with `aiexec up` "
            "or point AIEXEC_SIMULATOR_URL at it",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    except SimulatorControlError as exc:
        print(f"aiexec sim: the simulator refused: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.status == 400 else EXIT_FAILED
    return EXIT_OK


def cmd_fault(args: argparse.Namespace) -> int:
    params = {
        field: getattr(args, option)
        for option, field in _FAULT_OPTIONS.items()
        if getattr(args, option) is not None
    }

    def action(client: SimulatorClient) -> None:
        result = client.set_fault(args.provider, args.mode, **params)
        print(f"{args.provider}: {_describe(result.get('fault', {}))}")

    return _run(action)


def cmd_status(args: argparse.Namespace) -> int:
    def action(client: SimulatorClient) -> None:
        faults, stats, models = client.faults(), client.stats(), client.models()
        if args.json:
            document = {"url": client.url, "faults": faults, "stats": stats, "models": models}
            print(json.dumps(document, indent=2))
            return
        print(f"simulator {client.url}")
        for provider in sorted(faults):
            counts = stats.get(provider, {})
            print(
                f"  {provider:<8} {_describe(faults[provider]):<40} calls={counts.get('calls', 0)}"
                f" ok={counts.get('ok', 0)} errors={counts.get('errors', 0)}"
            )
        for changed in models.get("overrides", {}).values():
            for view in changed.values():
                print(f"  model    {_describe_model(view)}")

    return _run(action)


def cmd_reset(args: argparse.Namespace) -> int:
    def action(client: SimulatorClient) -> None:
        client.reset()
        print("simulator reset: all providers ok, counters zeroed, models as in the catalog")

    return _run(action)


def cmd_batch(args: argparse.Namespace) -> int:
    if args.delay is not None and args.delay < 0:
        print("aiexec sim batch: --delay must be >= 0", file=sys.stderr)
        return EXIT_USAGE

    def action(client: SimulatorClient) -> None:
        view = client.batch() if args.delay is None else client.set_batch_delay(args.delay)
        if args.json:
            print(json.dumps(view, indent=2))
            return
        print(f"batch jobs take {view['delay_s']} s")
        for job in view["jobs"]:
            print(f"  {job['provider']:<8} {job['id']}  {job['phase']:<10} lines={job['lines']}"
                  f" fault={job['mode']}")  # fmt: skip

    return _run(action)


def cmd_model(args: argparse.Namespace) -> int:
    shutdown: str | None = args.shutdown_date
    change: dict[str, Any] = {}
    if shutdown is not None:
        none = shutdown.strip().lower() in ("none", "null", "")
        change = {"shutdown_date": None if none else shutdown}
    elif args.retired or args.reset:
        change = {"retired": args.retired, "reset": args.reset}

    def action(client: SimulatorClient) -> None:
        if change:
            view = client.set_model(args.provider, args.model, **change)
        else:
            view = client.model(args.provider, args.model)
        print(json.dumps(view, indent=2) if args.json else _describe_model(view))

    return _run(action)


def _describe_model(view: dict[str, Any]) -> str:
    state = "served" if view.get("served") else "not served (404)"
    shutdown = view.get("shutdown_date")
    when = f", shutdown {shutdown}" if shutdown else ", no shutdown date"
    source = {
        "catalog": "as in the catalog",
        "override": "set at run time",
        "unknown": "not in the catalog",
    }.get(str(view.get("source")), str(view.get("source")))
    return f"{view.get('provider')} {view.get('model')}: {state}{when} ({source})"


def _describe(fault: dict[str, Any]) -> str:
    mode = str(fault.get("mode", "?"))
    detail = {
        "rate-limit": f"retry_after_s={fault.get('retry_after_s')}",
        "slow": f"delay_s={fault.get('delay_s')}",
        "flaky": f"failure_rate={fault.get('failure_rate')} status={fault.get('status')}",
        "down": f"status={fault.get('status')}",
    }.get(mode)
    return f"{mode} ({detail})" if detail else mode
