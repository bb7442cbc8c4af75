"""The report as titled tables: one content model that the text, Markdown and HTML renderers share.

Numbers are formatted here once, so every rendering shows the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

LEFT, RIGHT = "l", "r"


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    align: str  # one LEFT/RIGHT letter per column

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


def _provider_table(rows: Mapping[str, Any]) -> Table:
    headers = (
        "provider",
        "tasks",
        "ok",
        "failed",
        "fallbacks",
        "calls",
        "failed calls",
        "tokens",
        "cost",
        "p50",
        "p95",
    )
    body = [
        (
            name,
            count(r["tasks"]),
            count(r["succeeded"]),
            count(r["failed"]),
            count(r["fallbacks"]),
            count(r["calls"]),
            count(r["failed_calls"]),
            count(r["tokens"]),
            cost(r),
            ms(r["p50_ms"]),
            ms(r["p95_ms"]),
        )
        for name, r in rows.items()
    ]
    return Table("By provider", headers, body, "l" + "r" * 10)


def _model_table(rows: Mapping[str, Any]) -> Table:
    headers = ("model", "provider", "calls", "failed calls", "tokens", "cost", "unpriced")
    body = [
        (
            name,
            r["provider"],
            count(r["calls"]),
            count(r["failed_calls"]),
            count(r["tokens"]),
            cost(r),
            count(r["unpriced_calls"]),
        )
        for name, r in rows.items()
    ]
    return Table("By model", headers, body, "llrrrrr")


def _client_table(rows: Mapping[str, Any]) -> Table:
    headers = ("client", "tasks", "ok", "failed", "calls", "tokens", "cost")
    body = [
        (
            name,
            count(r["tasks"]),
            count(r["succeeded"]),
            count(r["failed"]),
            count(r["calls"]),
            count(r["tokens"]),
            cost(r),
        )
        for name, r in rows.items()
    ]
    return Table("By client", headers, body, "lrrrrrr")


def _day_table(rows: Mapping[str, Any]) -> Table:
    headers = ("day", "tasks", "ok", "failed", "calls", "tokens", "cost")
    body = [
        (
            f"{date.fromisoformat(day):%a %Y-%m-%d}",
            count(r["tasks"]),
            count(r["succeeded"]),
            count(r["failed"]),
            count(r["calls"]),
            count(r["tokens"]),
            cost(r),
        )
        for day, r in sorted(rows.items())
    ]
    return Table("By day", headers, body, "lrrrrrr")


def _failure_table(rows: list[Mapping[str, Any]]) -> Table:
    body = [(r["scope"], r.get("provider") or "", r["reason"], count(r["count"])) for r in rows]
    return Table("Top failure reasons", ("scope", "provider", "reason", "count"), body, "lllr")


def report_tables(report: Mapping[str, Any]) -> list[Table]:
    return [
        _summary(report),
        _provider_table(report["by_provider"]),
        _model_table(report["by_model"]),
        _client_table(report["by_client"]),
        _day_table(report["by_day"]),
        _failure_table(report["top_failures"]),
    ]
