"""From rollup documents to the report's numbers (no raw `usage` reads, see shared/rollups.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from shared.budget_math import NANOS_PER_USD
from shared.firestore.rollups import RollupDocuments
from shared.model_lifecycle import configured_models, needs_attention, used_models
from shared.reports.period import Period
from shared.rollups import (
    INVALID_CLIENT,
    MISSED,
    OTHER_MODEL,
    TOKEN_FIELDS,
    parse_cell_key,
    percentile,
)
from shared.settings import TaskSettings

NONE_LABEL = "(none)"
TOP_FAILURES = 10
CHANGE_METRICS = ("tasks", "succeeded", "failed", "fallback_rate", "tokens", "cost_usd")
# The batch lane's share of a cell (shared/rollups.py); the online lane is the rest.
BATCH_FIELDS = (
    "batch_calls", "batch_tokens", "batch_cost_nusd", "batch_saved_nusd", "batch_tasks",
    "batch_succeeded", "batch_failed",
)  # fmt: skip
_INT_FIELDS = (
    "calls", "cost_nusd", "unpriced_calls", "tasks", "succeeded", "failed", "fallbacks",
    "structured_calls", *BATCH_FIELDS,
)  # fmt: skip
_MAP_FIELDS = ("outcomes", "call_ms", "call_errors", "task_ms", "task_errors")
READ_TIMEOUT_S = 30.0  # an unreachable Firestore is an error, not a hang (the CLI)


def _usd(nanos: int) -> float:
    return round(nanos / NANOS_PER_USD, 9)


@dataclass
class Counters:
    """Additive counters of one or many rollup cells."""

    ints: Counter[str] = field(default_factory=Counter)
    maps: dict[str, Counter[str]] = field(
        default_factory=lambda: {name: Counter() for name in _MAP_FIELDS}
    )

    def add_cell(self, cell: Mapping[str, Any]) -> None:
        for name in (*_INT_FIELDS, *TOKEN_FIELDS):
            self.ints[name] += int(cell.get(name) or 0)
        for name in _MAP_FIELDS:
            for key, count in (cell.get(name) or {}).items():
                self.maps[name][unquote(key)] += int(count)

    def add(self, other: Counters) -> None:
        self.ints.update(other.ints)
        for name in _MAP_FIELDS:
            self.maps[name].update(other.maps[name])

    @property
    def cost_usd(self) -> float:
        return _usd(self.ints["cost_nusd"])

    def row(self) -> dict[str, Any]:
        """The numbers of one report line (totals, a provider, a model, a client)."""
        tasks, calls, ok = self.ints["tasks"], self.ints["calls"], self.maps["outcomes"]["ok"]
        return {
            "tasks": tasks,
            "succeeded": self.ints["succeeded"],
            "failed": self.ints["failed"],
            "fallbacks": self.ints["fallbacks"],
            "fallback_rate": round(self.ints["fallbacks"] / tasks, 4) if tasks else 0.0,
            "calls": calls,
            "ok_calls": ok,
            "failed_calls": calls - ok,
            "tokens": self.ints["total_tokens"],
            "cost_usd": self.cost_usd,
            "unpriced_calls": self.ints["unpriced_calls"],
            "p50_ms": percentile(self.maps["task_ms"], 0.50),
            "p95_ms": percentile(self.maps["task_ms"], 0.95),
            "call_p50_ms": percentile(self.maps["call_ms"], 0.50),
            "call_p95_ms": percentile(self.maps["call_ms"], 0.95),
            **self.structured(),
        }

    def structured(self) -> dict[str, Any]:
        """Answers checked against a response_schema, and the share that followed it (None
        when there were none)."""
        checked = self.ints["structured_calls"]
        valid = checked - self.maps["outcomes"]["invalid_output"]
        return {
            "structured_calls": checked,
            "structured_valid_rate": round(valid / checked, 4) if checked else None,
        }

    def lanes(self) -> dict[str, dict[str, Any]]:
        """Tasks, calls, tokens and cost per lane, and what the batch lane saved against the
        same tokens at online prices (the online lane saves nothing by definition)."""
        ints = self.ints
        batch = {
            "tasks": ints["batch_tasks"],
            "succeeded": ints["batch_succeeded"],
            "failed": ints["batch_failed"],
            "calls": ints["batch_calls"],
            "tokens": ints["batch_tokens"],
            "cost_usd": _usd(ints["batch_cost_nusd"]),
            "saved_usd": _usd(ints["batch_saved_nusd"]),
        }
        online = {
            name: ints[source] - ints[f"batch_{name}"]
            for name, source in (
                ("tasks", "tasks"),
                ("succeeded", "succeeded"),
                ("failed", "failed"),
                ("calls", "calls"),
                ("tokens", "total_tokens"),
            )
        } | {"cost_usd": _usd(ints["cost_nusd"] - ints["batch_cost_nusd"]), "saved_usd": 0.0}
        return {"online": online, "batch": batch}

    def tokens_by_category(self) -> dict[str, int]:
        return {name.removesuffix("_tokens"): self.ints[name] for name in TOKEN_FIELDS}


@dataclass(frozen=True)
class Cell:
    day: str
    provider: str
    model: str
    client: str
    counters: Counters


@dataclass
class Rollup:
    """The cells of one period, and what reading them cost."""

    cells: list[Cell]
    documents_read: int
    zones: set[str]
    # What the rollups miss (calls, tasks, retractions): updates Firestore refused, which the
    # store committed without (shared/store.py); the usage documents have them all.
    missed: Counter[str] = field(default_factory=Counter)


class RollupReader:
    def __init__(self, settings: TaskSettings, client: Any) -> None:
        self.settings = settings
        self.client = client

    def read(self, period: Period) -> Rollup:
        """One range query over the period's days: at most days x shards documents."""
        days = RollupDocuments(self.settings).days(
            self.client, period.first_day.isoformat(), period.last_day.isoformat(), READ_TIMEOUT_S
        )
        cells: list[Cell] = []
        zones: set[str] = set()
        missed: Counter[str] = Counter()
        documents = 0
        for doc in days:
            documents += 1
            zones.add(str(doc.get("tz") or ""))
            for key, cell in (doc.get("cells") or {}).items():
                counters = Counters()
                counters.add_cell(cell)
                cells.append(Cell(str(doc["day"]), *parse_cell_key(key), counters))
            for name, count in (doc.get(MISSED) or {}).items():
                missed[str(name)] += int(count)
        return Rollup(cells, documents, zones, missed)


def _label(name: str) -> str:
    return name or NONE_LABEL


def _group(cells: Iterable[Cell], key: str) -> dict[str, Counters]:
    groups: dict[str, Counters] = {}
    for cell in cells:
        groups.setdefault(_label(getattr(cell, key)), Counters()).add(cell.counters)
    return dict(sorted(groups.items(), key=lambda item: (-item[1].cost_usd, item[0])))


def _total(cells: Iterable[Cell]) -> Counters:
    total = Counters()
    for cell in cells:
        total.add(cell.counters)
    return total


def _totals(counters: Counters) -> dict[str, Any]:
    row = counters.row()
    return row | {"tokens_by_category": counters.tokens_by_category()}


def _by_model(cells: list[Cell]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for model, counters in _group(cells, "model").items():
        providers = sorted({_label(c.provider) for c in cells if _label(c.model) == model})
        rows[model] = {"provider": "+".join(providers)} | counters.row()
    return rows


def _lifecycle(settings: TaskSettings, cells: list[Cell], now: datetime) -> list[dict[str, Any]]:
    """Configured models, then models used this period, that are unknown, retired or near
    their shutdown (as of the report's generation day)."""
    configured = configured_models(settings, now.date())
    seen = {(m.provider, m.model) for m in configured}
    used = used_models(
        (
            (c.provider, c.model)
            for c in cells
            if c.model and c.model != OTHER_MODEL and (c.provider, c.model) not in seen
        ),
        now.date(),
    )
    days = settings.model_shutdown_warn_days
    return [m.row(days) for m in needs_attention([*configured, *used], days)]


def _by_day(period: Period, cells: list[Cell]) -> dict[str, Any]:
    """Every day of the period (zeros included, so charts have the whole week)."""
    days: dict[str, Any] = {}
    for day in period.days:
        todays = [c for c in cells if c.day == day.isoformat()]
        row = _total(todays).row()
        days[day.isoformat()] = {
            name: row[name] for name in ("tasks", "succeeded", "failed", "calls", "tokens")
        } | {
            "cost_usd": row["cost_usd"],
            "by_provider": {
                provider: {
                    "tasks": counters.ints["tasks"],
                    "calls": counters.ints["calls"],
                    "cost_usd": counters.cost_usd,
                }
                for provider, counters in _group(todays, "provider").items()
            },
        }
    return days


def _failures(cells: list[Cell]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for cell in cells:
        for reason, count in cell.counters.maps["task_errors"].items():
            counts["task", "", reason] += count
        for reason, count in cell.counters.maps["call_errors"].items():
            counts["call", _label(cell.provider), reason] += count
    positive = [item for item in counts.items() if item[1] > 0]  # retractions can leave zeros
    ranked = sorted(positive, key=lambda item: (-item[1], item[0]))[:TOP_FAILURES]
    return [
        {"scope": scope, "provider": provider or None, "reason": reason, "count": count}
        for (scope, provider, reason), count in ranked
    ]


def _unknown_models(cells: list[Cell]) -> list[dict[str, Any]]:
    unpriced: Counter[tuple[str, str]] = Counter()
    for cell in cells:
        if cell.counters.ints["unpriced_calls"]:
            unpriced[_label(cell.provider), _label(cell.model)] += cell.counters.ints[
                "unpriced_calls"
            ]
    return [
        {"provider": provider, "model": model, "calls": calls}
        for (provider, model), calls in sorted(unpriced.items())
    ]


def _change(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = {}
    for name in (*CHANGE_METRICS, "p50_ms", "p95_ms"):
        now, before = current.get(name), previous.get(name)
        delta = None if now is None or before is None else round(now - before, 9)
        pct = round(100 * delta / before, 1) if delta is not None and before else None
        change[name] = {"current": now, "previous": before, "delta": delta, "pct": pct}
    return change


def _notes(
    period: Period, current: Rollup, previous: Rollup, unknown: list[dict[str, Any]]
) -> list[str]:
    notes = []
    zones = set().union(*(r.zones for r in (current, previous))) - {period.timezone}
    if zones:
        notes.append(
            f"some days were rolled up in another time zone ({', '.join(sorted(zones))}); "
            f"their day boundaries differ from {period.timezone}"
        )
    for entry in unknown:
        if entry["model"] == OTHER_MODEL:
            notes.append(
                f"{entry['calls']} call(s) to {entry['provider']} models in neither the catalog "
                f"nor the configuration are counted as {OTHER_MODEL} and have no price: "
                "cost_usd excludes them (their names are on the usage documents)"
            )
            continue
        notes.append(
            f"{entry['calls']} call(s) to {entry['provider']}/{entry['model']} have no price "
            "(model not in the price table): cost_usd excludes them"
        )
    if any(c.client == INVALID_CLIENT for c in current.cells):
        notes.append(f"tasks whose client id is not a client name are counted as {INVALID_CLIENT}")
    missed = current.missed
    if missed["calls"] or missed["tasks"] or missed["retractions"]:
        notes.append(
            f"{missed['calls']} call(s) and {missed['tasks']} finished task(s) are not in these "
            f"figures, and {missed['retractions']} replay(s) not taken back: Firestore refused "
            "their rollup update and the store committed without it (worker logs: 'rollup "
            "update refused'); the usage documents have every call"
        )
    return notes


def build_report(
    period: Period,
    current: Rollup,
    previous: Rollup,
    *,
    generated_at: datetime,
    price_version: str,
    settings: TaskSettings,
) -> dict[str, Any]:
    """The report document (without its renderings) for `period`."""
    totals = _totals(_total(current.cells))
    previous_totals = _totals(_total(previous.cells))
    unknown = _unknown_models(current.cells)
    return {
        "id": period.label,
        "week": period.iso_week,
        "timezone": period.timezone,
        "period_start": period.start,
        "period_end": period.end,
        "generated_at": generated_at,
        "price_version": price_version,
        "totals": totals,
        "by_provider": {k: v.row() for k, v in _group(current.cells, "provider").items()},
        "by_model": _by_model(current.cells),
        "by_client": {k: v.row() for k, v in _group(current.cells, "client").items()},
        "by_lane": _total(current.cells).lanes(),
        "by_day": _by_day(period, current.cells),
        "latency": {
            name: totals[name] for name in ("p50_ms", "p95_ms", "call_p50_ms", "call_p95_ms")
        },
        "top_failures": _failures(current.cells),
        "unknown_models": unknown,
        "model_lifecycle": _lifecycle(settings, current.cells, generated_at),
        "previous": {
            "id": period.previous().label,
            "period_start": period.previous().start,
            "period_end": period.previous().end,
            "totals": previous_totals,
        },
        "change": _change(totals, previous_totals),
        "notes": _notes(period, current, previous, unknown),
        "source": {
            "collection": settings.collection_rollups,
            "documents_read": current.documents_read + previous.documents_read,
            "shards": settings.rollup_shards,
            "missed": {name: current.missed[name] for name in ("calls", "tasks", "retractions")},
        },
    }
