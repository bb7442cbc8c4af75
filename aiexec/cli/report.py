"""`aiexec report`: the usage report of the last N days or an ISO week, read from the rollups.

`aiexec report --days 7 --format text` is the seed's `api_usage_monitor.py 7 text`. Read-only:
the stored `reports/{week}` documents (and deliveries) are the report function's job.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from aiexec.cli.main import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from infra.settings import get_settings
from shared.reports.period import (
    Period,
    PeriodError,
    iso_week,
    last_days,
    local_today,
    previous_week,
    week_of,
)

FORMATS = ("text", "markdown", "html", "json")


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report", help="usage and cost report (last N days or an ISO week)"
    )
    which = report.add_mutually_exclusive_group()
    which.add_argument("--days", type=int, help="the last N days, today included (default 7)")
    which.add_argument(
        "--week", help="an ISO week (2026-W47), or `current` / `previous` (the scheduled one)"
    )
    report.add_argument("--format", choices=FORMATS, default="text")
    report.add_argument("--out", type=Path, help="write to FILE instead of stdout")
    report.set_defaults(func=cmd_report)


def period_for(args: argparse.Namespace, now: datetime, timezone: str) -> Period:
    if args.week == "previous":
        return previous_week(now, timezone)
    if args.week == "current":
        return week_of(local_today(now, timezone), timezone)
    if args.week:
        return iso_week(args.week, timezone)
    return last_days(args.days if args.days is not None else 7, now, timezone)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def render(rendered: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rendered.report, indent=2, default=_json_default) + "\n"
    if fmt == "markdown":
        return str(rendered.markdown)
    if fmt == "html":
        return str(rendered.html)
    return str(rendered.text)


def cmd_report(args: argparse.Namespace) -> int:
    from shared.reports.service import ReportService  # matplotlib: only when reporting

    settings = get_settings()
    # Days and weeks in the zone the rollups were bucketed in (AIEXEC_REPORT_TIMEZONE).
    timezone = settings.report_timezone
    try:
        period = period_for(args, datetime.now(UTC), timezone)
    except (PeriodError, ValueError) as error:
        print(f"aiexec: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        rendered = ReportService(settings).build(period)
    except (gexc.GoogleAPIError, auth_exc.GoogleAuthError, OSError) as error:
        where = settings.firestore_emulator_host or "Firestore"
        print(f"aiexec: cannot read the rollups from {where}: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    output = render(rendered, args.format)
    if args.out:
        args.out.write_text(output, encoding="utf-8")
        print(f"wrote {args.out} ({period.label})", file=sys.stderr)
    else:
        sys.stdout.write(output)
    return EXIT_OK
