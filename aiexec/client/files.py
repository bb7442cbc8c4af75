"""Task files: one task per JSON Lines line, or per CSV row (header = request field names).

CSV cells are text, so a few columns are converted: `max_output_tokens` (int), `temperature`
and `deadline_s` (numbers), `providers` (comma/semicolon separated), `model.<provider>` and
`metadata.<key>` columns (or JSON objects in `model` / `metadata`), and `messages` (a JSON array)
and `response_schema` (a JSON object), `attachments` (a JSON array of `{uri, mime_type}`, or
URIs separated by spaces or `;`, each `TYPE@URI` or typed by its name). Empty cells mean "not
set".
Anything else is passed through, so an unknown column is refused by validation with its name.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiexec.client.attachments import attachments
from shared.errors import AIExecError
from shared.schemas import FieldProblem

# (line or row number, the request as read, or the reason it could not be read)
Entry = tuple[int, dict[str, Any] | FieldProblem]
JSONL_SUFFIXES = (".jsonl", ".ndjson")
# Columns whose cell is JSON text: (`model`, `metadata` may also be split into `name.key`
# columns); a conversation is a list, a response schema an object.
_JSON_COLUMNS: dict[str, tuple[type, str]] = {
    "model": (dict, "object"),
    "metadata": (dict, "object"),
    "messages": (list, "array"),
    "response_schema": (dict, "object"),
    "attachments": (list, "array"),
}
CSV_SUFFIXES = (".csv",)


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise ValueError(f"{path}: use a .jsonl (JSON Lines) or .csv file")


def read_task_file(path: Path) -> Iterator[Entry]:
    """Every task of the file, numbered by line (JSONL) or row (CSV, header = row 1)."""
    fmt = file_format(path)
    with path.open(encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":
            yield from _jsonl(handle)
        else:
            yield from _csv(handle)


def _jsonl(lines: Iterator[str]) -> Iterator[Entry]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            yield number, FieldProblem(code="invalid_json", message=f"not JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield number, FieldProblem(code="invalid_json", message="not a JSON object")
            continue
        yield number, value


def _csv(handle: Any) -> Iterator[Entry]:
    reader = csv.DictReader(handle)
    for row in reader:
        number = reader.line_num
        if None in row:  # more cells than the header has columns
            message = "more cells than header columns"
            yield number, FieldProblem(code="invalid_field", message=message)
            continue
        try:
            yield number, csv_request(row)
        except _CellError as error:
            yield number, error.problem


class _CellError(AIExecError, ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.problem = FieldProblem(
            code="invalid_field", message=f"{column}: {message}", field=column
        )


def csv_request(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row as a request body (see the module docstring for the conversions)."""
    body: dict[str, Any] = {}
    for column, cell in row.items():
        text = (cell or "").strip()
        if not text:
            continue
        prefix, dot, key = column.partition(".")
        if dot and prefix in ("model", "metadata"):
            body.setdefault(prefix, {})[key] = text
        else:
            body[column] = _convert(column, text)
    return body


def _convert(column: str, text: str) -> Any:
    try:
        if column == "max_output_tokens":
            return int(text)
        if column in ("temperature", "deadline_s"):
            return float(text)
    except ValueError as error:
        raise _CellError(column, f"{text!r} is not a number") from error
    if column == "providers":
        return [name for name in re.split(r"[,;\s]+", text) if name]
    if column == "attachments" and not text.startswith("["):
        try:
            return attachments(u for u in re.split(r"[;\s]+", text) if u)
        except ValueError as error:
            raise _CellError(column, str(error)) from error
    if column in _JSON_COLUMNS:
        kind, name = _JSON_COLUMNS[column]
        try:
            value = json.loads(text)
        except ValueError as error:
            raise _CellError(column, f"expected a JSON {name}") from error
        if not isinstance(value, kind):
            raise _CellError(column, f"expected a JSON {name}")
        return value
    return text


def read_json_file(path: Path, kind: type, option: str) -> Any:
    """The JSON value of `path` (of type `kind`), or ValueError naming the option."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        raise ValueError(f"{option}: cannot read {path}: {problem}") from problem
    if not isinstance(value, kind):
        expected = "an array" if kind is list else "an object"
        raise ValueError(f"{option}: {path} must hold {expected}")
    return value
