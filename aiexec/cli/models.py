"""`aiexec models check`: every configured model against the catalog and the provider's own list.

A model fails the check when the catalog does not know it, when it is retired, when its shutdown
is within `AIEXEC_MODEL_SHUTDOWN_WARN_DAYS`, or when the provider does not list it. Exit 0: all
current; 1: at least one needs attention; 3: a provider could not be asked (`--offline` skips
the providers and checks the catalog only).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import date
from typing import Any, TextIO

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE
from aiexec.cli.provider_models import LOOKUPS, ProviderUnreachableError, ProviderView
from aiexec.cli.tables import render, table
from infra.settings import Settings, get_settings
from shared.model_lifecycle import ConfiguredModel, configured_models, today_utc
from shared.terminal import printable


def register(subparsers: Any) -> None:
    models = subparsers.add_parser("models", help="the models this configuration calls")
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="configured models against the catalog and the providers' lists"
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    check.add_argument(
        "--offline", action="store_true", help="check the catalog only (no provider call)"
    )
    check.set_defaults(func=cmd_check)


@dataclass(frozen=True)
class Checked:
    configured: ConfiguredModel
    provider_view: ProviderView | None  # None: not asked (--offline)
    problems: tuple[str, ...]

    def row(self, warn_days: int) -> dict[str, Any]:
        view = self.provider_view
        return self.configured.row(warn_days) | {
            "provider_listed": None if view is None else view.listed,
            "provider_shutdown_date": (
                view.shutdown_date.isoformat() if view and view.shutdown_date else None
            ),
            "ok": not self.problems,
            "problems": list(self.problems),
        }


def problems_of(
    model: ConfiguredModel, view: ProviderView | None, today: date, warn_days: int
) -> tuple[str, ...]:
    found = [model.warning(warn_days)] if model.warning(warn_days) else []
    if view is not None and view.listed is False:
        found.append(f"{model.provider} does not list {model.model!r}")
    if view is not None and view.error:
        found.append(view.error)
    if view is not None and view.shutdown_date is not None:
        left = (view.shutdown_date - today).days
        if left <= warn_days and view.shutdown_date != model.status.shutdown_date:
            found.append(
                f"{model.provider} announces shutdown on {view.shutdown_date} ({max(left, 0)} "
                "days; the catalog does not say so: update shared/data/models.json)"
            )
    return tuple(p for p in found if p)


def check(settings: Settings, offline: bool, today: date | None = None) -> list[Checked]:
    """Raises ProviderUnreachableError when a provider's list cannot be read (not offline)."""
    day = today or today_utc()
    warn_days = settings.model_shutdown_warn_days
    models = configured_models(settings, day)
    lookups = {} if offline else {p: LOOKUPS[p](settings) for p in {m.provider for m in models}}
    checked = []
    for model in models:
        view = lookups[model.provider](model.model) if model.provider in lookups else None
        checked.append(Checked(model, view, problems_of(model, view, day, warn_days)))
    return checked


def _text(rows: list[dict[str, Any]], stream: TextIO) -> str:
    headers = ("provider", "model", "where", "catalog", "shutdown", "replacement", "listed", "")
    cells = [
        (
            r["provider"],
            r["model"],
            r["where"],
            r["status"],
            r["shutdown_date"] or "-",
            r["replacement"] or "-",
            {True: "yes", False: "NO", None: "-"}[r["provider_listed"]],
            "ok" if r["ok"] else "ATTENTION",
        )
        for r in rows
    ]
    problems = [f"- {r['provider']} {r['model']}: {p}" for r in rows for p in r["problems"]]
    return render(table(headers, cells), stream) + "".join(printable(p) + "\n" for p in problems)


def cmd_check(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        checked = check(settings, offline=args.offline)
    except ProviderUnreachableError as exc:
        print(f"aiexec models check: {exc} (use --offline to check the catalog only)")
        return EXIT_UNREACHABLE
    warn_days = settings.model_shutdown_warn_days
    rows = [c.row(warn_days) for c in checked]
    ok = all(r["ok"] for r in rows)
    if args.json:
        document = {"checked_on": today_utc().isoformat(), "warn_days": warn_days, "ok": ok}
        print(json.dumps(document | {"models": rows}, indent=2))
    else:
        sys.stdout.write(_text(rows, sys.stdout))
        summary = "every configured model is current" if ok else "some models need attention"
        print(f"\n{summary} (shutdown warning window: {warn_days} days)")
    return EXIT_OK if ok else EXIT_FAILED
