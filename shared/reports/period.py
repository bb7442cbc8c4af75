"""Report periods: whole days in the report's time zone — an ISO week, or a range of days.

Rollups are bucketed by day in the report's zone, so a period is a run of local days; its
instants (`start`, `end`) are local midnights (DST-aware), `end` exclusive.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.errors import AIExecError

_WEEK = re.compile(r"^(?P<year>\d{4})-?W(?P<week>\d{2})$")
MAX_DAYS = 366


class PeriodError(AIExecError, ValueError):
    """A report request that names no valid period (said in the message)."""


@dataclass(frozen=True)
class Period:
    first_day: date  # inclusive, local
    last_day: date  # inclusive, local
    timezone: str

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise PeriodError(f"the period ends ({self.last_day}) before it starts")
        if (self.last_day - self.first_day).days >= MAX_DAYS:
            raise PeriodError(f"a report covers at most {MAX_DAYS} days")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=self.zone)

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(count)]

    @property
    def iso_week(self) -> str | None:
        """`YYYY-Www` when the period is exactly one ISO week."""
        year, week, weekday = self.first_day.isocalendar()
        if weekday == 1 and (self.last_day - self.first_day).days == 6:
            return f"{year}-W{week:02d}"
        return None

    @property
    def label(self) -> str:
        """Also the report's document id: `reports/{YYYY-Www}` or `reports/{first}--{last}`."""
        return self.iso_week or f"{self.first_day.isoformat()}--{self.last_day.isoformat()}"

    def previous(self) -> Period:
        """The period of the same length just before this one (the week before a week)."""
        length = timedelta(days=len(self.days))
        return Period(self.first_day - length, self.last_day - length, self.timezone)


def iso_week(label: str, timezone: str) -> Period:
    match = _WEEK.match(label.strip())
    if not match:
        raise PeriodError(f"week {label!r} is not an ISO week like 2026-W47")
    try:
        monday = date.fromisocalendar(int(match["year"]), int(match["week"]), 1)
    except ValueError as exc:
        raise PeriodError(f"week {label!r} does not exist ({exc})") from None
    return Period(monday, monday + timedelta(days=6), timezone)


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def week_of(day: date, timezone: str) -> Period:
    monday = day - timedelta(days=day.weekday())
    return Period(monday, monday + timedelta(days=6), timezone)


def previous_week(now: datetime, timezone: str) -> Period:
    """The ISO week before the one `now` falls in, in `timezone` (the scheduled default)."""
    return week_of(local_today(now, timezone) - timedelta(days=7), timezone)


def last_days(days: int, now: datetime, timezone: str) -> Period:
    """The `days` local days ending today (the seed's `api_usage_monitor.py 7`)."""
    if days < 1:
        raise PeriodError("--days must be at least 1")
    today = local_today(now, timezone)
    return Period(today - timedelta(days=days - 1), today, timezone)


def _local(value: str, timezone: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PeriodError(f"{field} {value!r} is not an ISO date or date-time") from None
    if parsed.tzinfo is None:  # a bare date or local time: in the report's zone
        return parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed.astimezone(ZoneInfo(timezone))


def date_range(start: str, end: str, timezone: str) -> Period:
    """[start, end) as whole local days; an `end` past midnight includes its day."""
    first = _local(start, timezone, "start")
    last = _local(end, timezone, "end")
    last_day = last.date() if last.time() != time(0) else last.date() - timedelta(days=1)
    return Period(first.date(), last_day, timezone)


@dataclass(frozen=True)
class ReportRequest:
    period: Period
    redeliver: bool = False  # deliver again even where a delivery already succeeded


def parse_request(data: bytes, now: datetime, timezone: str) -> ReportRequest:
    """A `usage-report-requests` message: empty (the previous ISO week), `{"week": …}`,
    `{"start": …, "end": …}` or `{"days": N}`, optionally with `"redeliver": true`."""
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        return ReportRequest(previous_week(now, timezone))
    try:
        body = json.loads(text)
    except ValueError:
        raise PeriodError("the message data is not JSON") from None
    if not isinstance(body, dict):
        raise PeriodError("the message data must be a JSON object")
    unknown = sorted(set(body) - {"week", "start", "end", "days", "redeliver"})
    if unknown:
        raise PeriodError(f"unknown field(s) {', '.join(unknown)}")
    redeliver = body.get("redeliver") is True
    if isinstance(body.get("week"), str):
        return ReportRequest(iso_week(body["week"], timezone), redeliver)
    if isinstance(body.get("start"), str) and isinstance(body.get("end"), str):
        return ReportRequest(date_range(body["start"], body["end"], timezone), redeliver)
    if isinstance(body.get("days"), int) and not isinstance(body.get("days"), bool):
        return ReportRequest(last_days(body["days"], now, timezone), redeliver)
    if {"week", "start", "end", "days"} & set(body):
        raise PeriodError("give `week` (YYYY-Www), `start` and `end` (ISO), or `days` (int)")
    return ReportRequest(previous_week(now, timezone), redeliver)
