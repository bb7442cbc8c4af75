"""What the status page shows, read from rollups and counters only: one range query over the
last 7 days' rollup documents (cost per day and provider from their cells; tasks finished in
the last 24 hours and the slowest of them from their status fields: shared/status_counts.py),
capped counts of the tasks not finished yet, and the circuits. At most 7 x shards + one per
provider documents, plus one read per 1,000 unfinished tasks (capped): never a task document.

With API keys required, the caller sees the deployment's task counts, backlog and circuits (by
provider, nothing about other clients) but only its own client's cost and slow tasks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.budget_math import NANOS_PER_USD
from shared.circuit import circuit_states
from shared.firestore.rollups import RollupDocuments
from shared.firestore.status_counts import count_by_status
from shared.reports.period import last_days
from shared.rollups import client_label, parse_cell_key
from shared.settings import TaskSettings
from shared.status_counts import (
    IN_FLIGHT,
    IN_FLIGHT_CAP,
    SLOWEST_SHOWN,
    StatusSnapshot,
    window_hours,
)

COST_DAYS = 7
READ_TIMEOUT_S = 10.0
# The design's default for AIEXEC_TRACE_LINK_TEMPLATE, used until that setting is present.
DEFAULT_TRACE_LINK = "https://console.cloud.google.com/traces/list?project={project}&tid={trace_id}"


@dataclass
class StatusView:
    """Everything the page renders (shared/status_page.py), already read."""

    generated_at: datetime
    version: str
    tasks: StatusSnapshot
    circuits: dict[str, dict[str, Any]]
    cost_by_day: dict[date, dict[str, float]]  # local day -> provider -> USD
    timezone: str
    documents_read: int
    in_flight_cap: int = IN_FLIGHT_CAP

    @property
    def cost_today(self) -> float:
        return round(sum(self.cost_by_day[max(self.cost_by_day)].values()), 9)

    @property
    def cost_week(self) -> float:
        return round(sum(sum(day.values()) for day in self.cost_by_day.values()), 9)


def trace_link(settings: TaskSettings, trace_id: str) -> str:
    """The page of a task's trace (`AIEXEC_TRACE_LINK_TEMPLATE`)."""
    template = str(getattr(settings, "trace_link_template", DEFAULT_TRACE_LINK))
    return template.format(project=settings.project_id, trace_id=trace_id)


def read_status(
    settings: TaskSettings, client: Any, now: datetime, only_client: str | None
) -> StatusView:
    """The page's figures; `only_client` (with API keys: the caller) limits cost and slow
    tasks to that client's."""
    period = last_days(COST_DAYS, now, settings.report_timezone)
    own = client_label(only_client) if only_client is not None else None
    cost: dict[date, Counter[str]] = {day: Counter() for day in period.days}  # nano-USD
    tasks = StatusSnapshot()
    hours = set(window_hours(now))
    documents = 0
    first, last = period.first_day.isoformat(), period.last_day.isoformat()
    for doc in RollupDocuments(settings).days(client, first, last, READ_TIMEOUT_S):
        documents += 1
        tasks.add_document(doc, hours)
        day = date.fromisoformat(str(doc["day"]))
        for key, cell in (doc.get("cells") or {}).items():
            provider, _, cell_client = parse_cell_key(key)
            if own is None or cell_client == own:
                cost[day][provider or "(none)"] += int(cell.get("cost_nusd") or 0)
    tasks.in_flight = count_by_status(settings, client, IN_FLIGHT, IN_FLIGHT_CAP, READ_TIMEOUT_S)
    tasks.rank_slowest()
    tasks.slowest = [
        _linked(settings, entry)
        for entry in tasks.slowest
        if only_client is None or entry.get("client_id") == only_client
    ][:SLOWEST_SHOWN]
    return StatusView(
        generated_at=now,
        version=settings.version,
        tasks=tasks,
        circuits=circuit_states(settings, client),
        cost_by_day={
            day: {p: nanos / NANOS_PER_USD for p, nanos in by.items()} for day, by in cost.items()
        },
        timezone=settings.report_timezone,
        # and at least one billed read per count aggregation
        documents_read=documents + len(settings.providers) + len(IN_FLIGHT),
    )


def _linked(settings: TaskSettings, entry: dict[str, Any]) -> dict[str, Any]:
    trace_id = entry.get("trace_id")
    return entry | {"trace_url": trace_link(settings, str(trace_id))} if trace_id else entry
