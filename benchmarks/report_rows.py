"""The bench table's cells: a row (label, reference, pipeline, their ratio, the target and its
verdict), how a figure is printed, and the targets' checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.stats import ratio

Row = tuple[str, str, str, str, str]  # label, reference, pipeline, ratio, target (+ verdict)


@dataclass(frozen=True)
class Target:
    text: str
    met: bool | None

    def render(self) -> str:
        if self.met is None:
            return self.text
        return f"{self.text}  {'met' if self.met else 'MISSED'}"


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.1f}" if abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def row(
    label: str, ref: Any, pipe: Any, target: Target | None = None, *, ratio_of: bool = True
) -> Row:
    r = ratio(pipe, ref) if ratio_of and isinstance(pipe, int | float) else None
    return (label, fmt(ref), fmt(pipe), fmt(r), target.render() if target else "")


def at_least(value: float | None, bound: float, text: str) -> Target:
    return Target(text, None if value is None else value >= bound)


def at_most(value: float | None, bound: float, text: str) -> Target:
    return Target(text, None if value is None else value <= bound)
