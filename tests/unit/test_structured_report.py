"""The weekly report's structured-output validity rate by model (issue 15): from the usage
documents' `structured` flag and `invalid_output` outcome, through the rollup cell, to the
`By model` table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shared.providers.base import Completion
from shared.reports.aggregate import Counters
from shared.reports.tables import BY_MODEL, _breakdown
from shared.rollups import add_call
from shared.usage import CallRecord

NOW = datetime(2026, 11, 30, tzinfo=UTC)
ANSWER = Completion("{}", "gpt-6.1-terra", "stop", 10, 5, 15)


def usage(structured: bool, outcome: str = "ok") -> dict[str, Any]:
    record = CallRecord.success("openai", "gpt-6.1-terra", NOW, NOW, ANSWER)
    record = replace(record, structured=structured, outcome=outcome)
    return record.usage_document("t", "c", 1)


def test_only_structured_calls_carry_the_flag() -> None:
    assert usage(True)["structured"] is True
    assert "structured" not in usage(False)


def test_the_validity_rate_counts_checked_answers_only() -> None:
    cell: dict[str, Any] = {}
    for document in [usage(True), usage(True), usage(True, "invalid_output"), usage(False)]:
        add_call(cell, document)
    counters = Counters()
    counters.add_cell(cell)
    row = counters.row()
    assert (row["calls"], row["structured_calls"]) == (4, 3)
    assert row["structured_valid_rate"] == round(2 / 3, 4)
    table = _breakdown("By model", BY_MODEL, {"gpt-6.1-terra": {"provider": "openai"} | row})
    column = table.headers.index("valid JSON")
    assert table.rows[0][column].endswith(" of 3") and "66.7" in table.rows[0][column]


def test_no_structured_calls_show_a_dash() -> None:
    cell: dict[str, Any] = {}
    add_call(cell, usage(False))
    counters = Counters()
    counters.add_cell(cell)
    row = counters.row()
    assert row["structured_valid_rate"] is None
    table = _breakdown("By model", BY_MODEL, {"m": {"provider": "openai"} | row})
    assert table.rows[0][table.headers.index("valid JSON")] == "-"
