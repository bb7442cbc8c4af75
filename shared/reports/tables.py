"""The report as titled tables: one content model that the text, Markdown and HTML renderers share.

Numbers are formatted here once, so every rendering shows the same figures; and every cell is
made printable here once (`shared.terminal.printable`: a model name, client id or error code with
control characters shows them escaped), so no rendering passes them to a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from shared.terminal import printable

LEFT, RIGHT = "l", "r"


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    align: str  # one LEFT/RIGHT letter per column
    when_empty: str | None = None  # what an empty table says (None: "no activity")

    @property
    def empty(self) -> bool:
        return not self.rows


def usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def count(value: int | float | None) -> str:
    return "-" if value is None else f"{value:,}"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def cost(row: Mapping[str, Any]) -> str:
    """A row's cost; `*` when some calls had no price, `n/a` when none had one."""
    unpriced = int(row.get("unpriced_calls") or 0)
    if unpriced and not row.get("cost_usd"):
        return "n/a"
    return usd(row.get("cost_usd")) + ("*" if unpriced else "")


def change(entry: Mapping[str, Any] | None, *, points: bool = False) -> str:
    """`+12.0%` against the previous period (`+3.0 pt` for rates); `new` when it was zero."""
    if not entry or not entry.get("delta"):  # unknown, or no change at all
        return ""
    if points:
        return f"{100 * entry['delta']:+.1f} pt"
    if entry.get("pct") is None:
        return "new" if entry["delta"] else ""
    return f"{entry['pct']:+.1f}%"


def title(report: Mapping[str, Any]) -> str:
    return f"AI usage report {report['id']}"


def period_line(report: Mapping[str, Any]) -> str:
    days = sorted(report.get("by_day") or {})
    if not days:
        return f"({report['timezone']})"
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    return f"{first:%a %Y-%m-%d} to {last:%a %Y-%m-%d} ({report['timezone']})"


def headline(report: Mapping[str, Any]) -> str:
    """One line for chat messages and e-mail subjects."""
    totals = report["totals"]
    cost = change(report["change"]["cost_usd"])
    return (
        f"{count(totals['tasks'])} tasks ({count(totals['failed'])} failed), "
        f"fallback {rate(totals['fallback_rate'])}, cost {usd(totals['cost_usd'])}"
        + (f" ({cost} vs previous)" if cost else "")
    )


def _summary(report: Mapping[str, Any]) -> Table:
    totals, previous = report["totals"], report["previous"]["totals"]
    chg = report["change"]
    tokens = totals["tokens_by_category"]
    rows = [
        ("tasks", count(totals["tasks"]), count(previous["tasks"]), change(chg["tasks"])),
        ("succeeded", count(totals["succeeded"]), count(previous["succeeded"]), ""),
        ("failed", count(totals["failed"]), count(previous["failed"]), change(chg["failed"])),
        (
            "fallback rate",
            rate(totals["fallback_rate"]),
            rate(previous["fallback_rate"]),
            change(chg["fallback_rate"], points=True),
        ),
        ("provider calls", count(totals["calls"]), count(previous["calls"]), ""),
        ("failed calls", count(totals["failed_calls"]), count(previous["failed_calls"]), ""),
        ("tokens", count(totals["tokens"]), count(previous["tokens"]), change(chg["tokens"])),
        (
            "tokens: prompt / cached",
            f"{count(tokens['prompt'])} / {count(tokens['cached'])}",
            "",
            "",
        ),
        (
            "tokens: output / reasoning",
            f"{count(tokens['completion'])} / {count(tokens['reasoning'])}",
            "",
            "",
        ),
        ("cost (USD)", cost(totals), cost(previous), change(chg["cost_usd"])),
        ("latency p50", ms(totals["p50_ms"]), ms(previous["p50_ms"]), ""),
        ("latency p95", ms(totals["p95_ms"]), ms(previous["p95_ms"]), ""),
    ]
    return Table("Summary", ("", "this period", "previous", "change"), rows, "lrrr")


# A breakdown column: header, alignment, and the cell of one row (its key and figures).
Column = tuple[str, str, Callable[[str, Mapping[str, Any]], str]]


def _counted(field: str) -> Callable[[str, Mapping[str, Any]], str]:
    return lambda _key, r: count(r[field])


def _name(key: str, _row: Mapping[str, Any]) -> str:
    return key


TASKS: list[Column] = [
    ("tasks", RIGHT, _counted("tasks")),
    ("ok", RIGHT, _counted("succeeded")),
    ("failed", RIGHT, _counted("failed")),
]
CALLS_TOKENS_COST: list[Column] = [
    ("calls", RIGHT, _counted("calls")),
    ("tokens", RIGHT, _counted("tokens")),
    ("cost", RIGHT, lambda _key, r: cost(r)),
]
BY_PROVIDER: list[Column] = [
    ("provider", LEFT, _name),
    *TASKS,
    ("fallbacks", RIGHT, _counted("fallbacks")),
    ("calls", RIGHT, _counted("calls")),
    ("failed calls", RIGHT, _counted("failed_calls")),
    *CALLS_TOKENS_COST[1:],
    ("p50", RIGHT, lambda _key, r: ms(r["p50_ms"])),
    ("p95", RIGHT, lambda _key, r: ms(r["p95_ms"])),
]
BY_MODEL: list[Column] = [
    ("model", LEFT, _name),
    ("provider", LEFT, lambda _key, r: str(r["provider"])),
    ("calls", RIGHT, _counted("calls")),
    ("failed calls", RIGHT, _counted("failed_calls")),
    *CALLS_TOKENS_COST[1:],
    ("unpriced", RIGHT, _counted("unpriced_calls")),
    # Structured output: the share of answers that followed the task's response_schema.
    ("valid JSON", RIGHT, lambda _key, r: _validity(r)),
]
BY_CLIENT: list[Column] = [("client", LEFT, _name), *TASKS, *CALLS_TOKENS_COST]
BY_LANE: list[Column] = [
    ("lane", LEFT, _name),
    *TASKS,
    ("calls", RIGHT, _counted("calls")),
    ("tokens", RIGHT, _counted("tokens")),
    ("cost", RIGHT, lambda _key, r: usd(r["cost_usd"])),
    # The same tokens at online prices minus what they cost (the online lane: nothing).
    ("saved vs online", RIGHT, lambda _key, r: usd(r["saved_usd"])),
]
BY_DAY: list[Column] = [
    ("day", LEFT, lambda day, _r: f"{date.fromisoformat(day):%a %Y-%m-%d}"),
    *TASKS,
    *CALLS_TOKENS_COST,
]


def _validity(row: Mapping[str, Any]) -> str:
    checked = row.get("structured_calls") or 0
    return "-" if not checked else f"{rate(row['structured_valid_rate'])} of {count(checked)}"


def _breakdown(
    title: str, columns: list[Column], rows: Mapping[str, Any], *, by_key: bool = False
) -> Table:
    items = sorted(rows.items()) if by_key else list(rows.items())
    body = [tuple(cell(key, r) for _, _, cell in columns) for key, r in items]
    headers = tuple(header for header, _, _ in columns)
    return Table(title, headers, body, "".join(align for _, align, _ in columns))


def _failure_table(rows: list[Mapping[str, Any]]) -> Table:
    body = [(r["scope"], r.get("provider") or "", r["reason"], count(r["count"])) for r in rows]
    headers = ("scope", "provider", "reason", "count")
    return Table("Top failure reasons", headers, body, "lllr", when_empty="none")


def _lifecycle_table(rows: list[Mapping[str, Any]]) -> Table:
    """Configured or used models that are unknown, retired or near their shutdown date."""
    body = [
        (
            r["provider"],
            r["model"],
            r["where"],
            r["status"],
            r.get("shutdown_date") or "-",
            r.get("replacement") or "-",
        )
        for r in rows
    ]
    headers = ("provider", "model", "where", "status", "shutdown", "replacement")
    return Table("Model lifecycle", headers, body, "llllll", when_empty="every model is current")


def _printable(table: Table) -> Table:
    return replace(
        table,
        title=printable(table.title),
        headers=tuple(printable(h) for h in table.headers),
        rows=[tuple(printable(cell) for cell in row) for row in table.rows],
    )


def report_tables(report: Mapping[str, Any]) -> list[Table]:
    tables = [
        _summary(report),
        _breakdown("By provider", BY_PROVIDER, report["by_provider"]),
        _breakdown("By model", BY_MODEL, report["by_model"]),
        _breakdown("By client", BY_CLIENT, report["by_client"]),
        _breakdown("By lane", BY_LANE, report.get("by_lane") or {}),
        _breakdown("By day", BY_DAY, report["by_day"], by_key=True),
        _failure_table(report["top_failures"]),
        _lifecycle_table(report.get("model_lifecycle") or []),
    ]
    return [_printable(table) for table in tables]
