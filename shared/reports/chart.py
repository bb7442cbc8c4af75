"""The report's chart: cost and tasks per day, stacked by provider (PNG, headless).

`Figure` with the Agg canvas directly, not `pyplot`: no global state, no display, safe to call
from the several threads a function instance may serve requests on.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1")


def _providers(by_day: Mapping[str, Any]) -> list[str]:
    names = {name for day in by_day.values() for name in day.get("by_provider", {})}
    return sorted(names)


def _stacked(axes: Any, by_day: Mapping[str, Any], metric: str, providers: list[str]) -> None:
    days = sorted(by_day)
    positions = list(range(len(days)))
    bottoms = [0.0] * len(days)
    for index, provider in enumerate(providers):
        values = [
            float(by_day[day].get("by_provider", {}).get(provider, {}).get(metric, 0) or 0)
            for day in days
        ]
        axes.bar(
            positions,
            values,
            bottom=bottoms,
            label=provider,
            color=_COLORS[index % len(_COLORS)],
            width=0.7,
        )
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    axes.set_xticks(positions, [f"{date.fromisoformat(d):%a %d}" for d in days])
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)


def render_chart(report: Mapping[str, Any]) -> bytes:
    """PNG bytes of the two stacked bar charts (an explicit "no activity" when empty)."""
    by_day = report.get("by_day") or {}
    providers = _providers(by_day)
    figure = Figure(figsize=(8, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    cost_axes, task_axes = figure.subplots(2, 1, sharex=True)
    _stacked(cost_axes, by_day, "cost_usd", providers)
    _stacked(task_axes, by_day, "tasks", providers)
    cost_axes.set_ylabel("cost (USD)")
    task_axes.set_ylabel("tasks")
    task_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    cost_axes.set_title(f"Cost and tasks per day by provider - {report.get('id', '')}")
    if providers:
        cost_axes.legend(loc="upper left", fontsize="small")
    else:
        cost_axes.text(
            0.5, 0.5, "no activity", ha="center", va="center", transform=cost_axes.transAxes
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
