"""Client pieces without the stack: task files, times, export rows, progress, the schema checker."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aiexec.cli.progress import Progress
from aiexec.cli.tables import print_table
from aiexec.client import (
    AIExecClient,
    ServiceUnreachableError,
    Task,
    parse_since,
    read_task_file,
    result_row,
    write_results,
)
from aiexec.client.models import BatchItem, BatchSummary
from shared.schemas import FieldProblem
from tests.client.schema_check import errors

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_jsonl_lines_are_numbered_and_bad_ones_explained(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"task_description": "a"}\n\n[1, 2]\nnot json\n{"task_description": "b"}\n')
    entries = list(read_task_file(path))
    assert [number for number, _ in entries] == [1, 3, 4, 5]
    assert entries[0][1] == {"task_description": "a"}
    assert isinstance(entries[1][1], FieldProblem) and "object" in entries[1][1].message
    assert isinstance(entries[2][1], FieldProblem) and entries[2][1].code == "invalid_json"


def test_csv_cells_become_typed_fields(tmp_path: Path) -> None:
    path = tmp_path / "tasks.csv"
    path.write_text(
        "task_description,max_output_tokens,temperature,providers,model.openai,metadata.team,colour\n"
        'hello,100,0.5,"vertex; openai",gpt-6.2-sol,blue,\n'
        "bad,many,,,,,\n"
        "extra,1,,,,,,surplus\n"
    )
    entries = list(read_task_file(path))
    assert entries[0] == (
        2,
        {
            "task_description": "hello",
            "max_output_tokens": 100,
            "temperature": 0.5,
            "providers": ["vertex", "openai"],
            "model": {"openai": "gpt-6.2-sol"},
            "metadata": {"team": "blue"},
        },
    )
    problem = entries[1][1]
    assert isinstance(problem, FieldProblem) and problem.field == "max_output_tokens"
    assert isinstance(entries[2][1], FieldProblem)


def test_other_file_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.jsonl"):
        list(read_task_file(tmp_path / "tasks.txt"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("1d", NOW - timedelta(days=1)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-04-30", datetime(2026, 4, 30, tzinfo=UTC)),
        ("2026-04-30T10:00+02:00", datetime(2026, 4, 30, 8, tzinfo=UTC)),
    ],
)
def test_since_accepts_durations_and_iso_times(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_since_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_since("last tuesday", NOW)


def _task() -> Task:
    return Task.of(
        {
            "task_id": "t-1",
            "status": "succeeded",
            "client_id": "c",
            "request": {"task_description": "hi", "metadata": {"k": "v, with comma"}},
            "result": {"text": "line 1\nline 2", "provider": "openai", "model": "m"},
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            "attempts": [{"provider": "openai", "outcome": "ok"}],
            "created_at": NOW,
            "completed_at": NOW,
        }
    )


def test_export_rows_in_jsonl_and_csv() -> None:
    row = result_row(_task())
    assert row["created_at"] == NOW.isoformat() and row["attempts"] == 1
    out = io.StringIO()
    write_results([_task()], out, "jsonl")
    assert json.loads(out.getvalue())["text"] == "line 1\nline 2"
    out = io.StringIO()
    assert write_results([_task()], out, "csv") == 1
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["text"] == "line 1\nline 2"
    assert json.loads(rows[0]["metadata"]) == {"k": "v, with comma"}


def test_timestamps_read_over_http_become_datetimes() -> None:
    task = Task.from_json({"task_id": "t", "status": "queued", "created_at": NOW.isoformat()})
    assert task.created_at == NOW and not task.terminal


def test_progress_prints_a_line_per_tenth_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(20, "submitting", stream=stream)
    for _ in range(20):
        progress.advance()
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("submitting [######")
    assert "20/20 100%" in lines[-1]
    silent = io.StringIO()
    Progress(5, "x", stream=silent, enabled=False).advance()
    assert silent.getvalue() == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_rich_s_bar_redrawn_in_place() -> None:
    stream = _Terminal()
    with Progress(20, "finishing", stream=stream) as progress:
        for _ in range(20):
            progress.advance()
    drawn = stream.getvalue()
    assert "finishing" in drawn and "20/20" in drawn and "100%" in drawn
    assert drawn.endswith("\n\x1b[?25h")  # a last newline, the cursor shown again
    progress.advance()  # after close: draws nothing
    assert stream.getvalue() == drawn


def test_tables_are_as_wide_as_their_content_one_line_per_row() -> None:
    out = io.StringIO()
    long_url = "http://127.0.0.1:8080/" + "x" * 200
    print_table(("part", "url", "spend"), [("ingest", long_url, 1.5), ("w", "-", 12)],
                right=("spend",), indent=2, stream=out)  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[0] == "  part    url" + " " * (len(long_url) - 3) + "  spend"
    assert lines[1] == f"  ingest  {long_url}    1.5"
    assert lines[2].startswith("  w       -  ") and lines[2].endswith(" 12")
    assert len(lines) == 3 and all(line == line.rstrip() for line in lines)


def test_batch_summary_counts_and_lists_problems() -> None:
    problem = FieldProblem(code="task_id_conflict", message="m", field="task_id")
    summary = BatchSummary(
        items=[
            BatchItem(1, "a", "accepted", status="queued"),
            BatchItem(2, "b", "refused", problem=problem, http_status=409),
            BatchItem(3, None, "invalid", problem=problem),
        ],
        elapsed_s=2.0,
    )
    data = summary.as_dict()
    assert (data["accepted"], data["refused"], data["invalid"], data["total"]) == (1, 1, 1, 3)
    assert data["task_ids"] == ["a"] and data["per_second"] == 1.5
    assert [p["index"] for p in data["problems"]] == [2, 3]


def test_the_schema_checker_is_not_vacuous() -> None:
    document = {"components": {"schemas": {"Id": {"type": "string", "pattern": "^a"}}}}
    schema = {
        "type": "object",
        "required": ["id", "n"],
        "additionalProperties": False,
        "properties": {
            "id": {"$ref": "#/components/schemas/Id"},
            "n": {"type": ["integer", "null"], "minimum": 1},
            "tags": {"type": "array", "items": {"enum": ["x"]}, "uniqueItems": True},
            "either": {"oneOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    assert not errors({"id": "abc", "n": None, "tags": ["x"], "either": "s"}, schema, document)
    assert errors({"id": "b", "n": 1}, schema, document)  # pattern
    assert errors({"id": "a", "n": 0}, schema, document)  # minimum
    assert errors({"id": "a", "n": True}, schema, document)  # a bool is not an integer
    assert errors({"id": "a"}, schema, document)  # required
    assert errors({"id": "a", "n": 1, "x": 1}, schema, document)  # additionalProperties
    assert errors({"id": "a", "n": 1, "tags": ["x", "x"]}, schema, document)  # uniqueItems
    assert errors({"id": "a", "n": 1, "either": 3}, schema, document)  # oneOf


def test_a_batch_stops_trying_once_the_service_is_down() -> None:
    calls = []

    class Offline(AIExecClient):
        def submit(self, request: Any, **kwargs: Any) -> Any:
            calls.append(1)
            raise ServiceUnreachableError("down")

    requests = [{"task_description": f"t{n}"} for n in range(200)]
    summary = Offline(ingest_url="http://127.0.0.1:9").submit_many(requests, concurrency=4)
    assert summary.unreachable == 200 and len(summary.items) == 200
    assert len(calls) < 20  # the rest were reported unsent, not tried
    assert summary.items[-1].problem is not None
    assert "not sent" in summary.items[-1].problem.message
