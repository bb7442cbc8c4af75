"""Small statistics: percentiles of one run, medians over repeats, provider calls in flight."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

Figures = dict[str, Any]  # figure name → number (or None when it could not be measured)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest rank: a value that was really observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: Sequence[float], prefix: str) -> Figures:
    """`{prefix}_p50_ms`, `_p95_ms`, `_p99_ms` of `values` (milliseconds)."""
    return {f"{prefix}_p{q}_ms": _round(percentile(values, q)) for q in (50, 95, 99)}


def median_figures(runs: Sequence[Mapping[str, Any]]) -> Figures:
    """Per figure, the median over the runs that measured it (None if none did)."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    merged: Figures = {}
    for key in keys:
        values = [run[key] for run in runs if isinstance(run.get(key), int | float)]
        if values:
            merged[key] = _round(statistics.median(values))
        else:  # not a number (e.g. a label): the first run's value
            merged[key] = next((run[key] for run in runs if key in run), None)
    return merged


def in_flight(intervals: Iterable[tuple[datetime, datetime]]) -> tuple[int, float]:
    """(most, mean) calls in flight at once, over the span from the first start to the last end."""
    events: list[tuple[datetime, int]] = []
    busy = 0.0
    for start, end in intervals:
        events += [(start, 1), (end, -1)]
        busy += (end - start).total_seconds()
    if not events:
        return 0, 0.0
    events.sort(key=lambda event: (event[0], event[1]))  # an end before a start at the same time
    current = most = 0
    for _, step in events:
        current += step
        most = max(most, current)
    span = (events[-1][0] - events[0][0]).total_seconds()
    return most, round(busy / span, 1) if span > 0 else float(most)


def ratio(pipeline: float | None, floor: float | None) -> float | None:
    if pipeline is None or floor is None or floor == 0:
        return None
    return round(pipeline / floor, 2)


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 1) if abs(value) >= 10 else round(value, 4)
