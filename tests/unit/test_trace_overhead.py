"""The tracing cost benchmark (benchmarks/trace_overhead.py) measures both modes, each in a
process of its own, and the exported spans reach the collector."""

from __future__ import annotations

import re

import pytest

from benchmarks.trace_overhead import main

LINE = re.compile(
    r"^export (none|otlp) +per task: median ([\d.]+) ms, p95 ([\d.]+) ms \(20 tasks of 10 spans"
)


@pytest.mark.slow  # two Python processes
def test_both_modes_are_measured(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--tasks", "20"])
    lines = capsys.readouterr().out.splitlines()
    found = [LINE.match(line) for line in lines]
    assert [m.group(1) for m in found if m] == ["none", "otlp"], lines
    for match in found:
        assert match is not None
        assert 0 < float(match.group(2)) <= float(match.group(3))
