"""Points in time as people type them: `30m`, `1d`, `2w` ago, or an ISO 8601 date/time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 1h, 2d, 1w)")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d` (that long before `now`) or `2024-05-01` / `2024-05-01T12:00+02:00` (naive = UTC)."""
    now = now or datetime.now(UTC)
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(
            f"not a time: {text!r} (use a duration such as 30m, 1h, 7d, or an ISO 8601 date)"
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
