"""`messages` and `response_schema` from the client and the CLI against the session stack
(issue 15): `aiexec submit --schema FILE --messages FILE`, a CSV file with JSON columns, a
JSONL file with `--schema` for every task, and the Python client's `response_schema=`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiexec.cli.main import EXIT_OK, EXIT_USAGE
from aiexec.client import AIExecClient
from aiexec.client.files import csv_request
from tests.client.helpers import Cli, unique

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "sure": {"type": "boolean"}},
    "required": ["answer", "sure"],
    "additionalProperties": False,
}
MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Is water wet?"},
]


def write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def test_submit_with_a_schema_file_and_a_messages_file(cli: Cli, tmp_path: Path) -> None:
    task_id = unique("cli-fields")
    schema, messages = write(tmp_path / "s.json", SCHEMA), write(tmp_path / "m.json", MESSAGES)
    run = cli("submit", "--messages", str(messages), "--schema", str(schema),
              "--id", task_id, "--wait", "30", "--json")  # fmt: skip
    assert run.code == EXIT_OK, run
    document = json.loads(run.out)
    assert document["request"]["messages"] == MESSAGES
    assert document["result"]["json"] == {"answer": document["result"]["json"]["answer"],
                                          "sure": False}  # fmt: skip


def test_the_cli_refuses_bad_fields_before_sending(cli: Cli, tmp_path: Path) -> None:
    messages = write(tmp_path / "m.json", MESSAGES)
    run = cli("submit", "a prompt too", "--messages", str(messages))
    assert run.code == EXIT_USAGE and "messages" in run.err
    loose = write(tmp_path / "loose.json", {"type": "object", "properties": {}})
    run = cli("submit", "x", "--schema", str(loose))
    assert run.code == EXIT_USAGE and "response_schema" in run.err
    run = cli("submit", "x", "--schema", str(tmp_path / "missing.json"))
    assert run.code == EXIT_USAGE and "--schema" in run.err
    assert cli("submit", "x", "--messages", str(write(tmp_path / "o.json", {}))).code == EXIT_USAGE


def test_a_jsonl_file_with_one_schema_for_every_task(cli: Cli, tmp_path: Path) -> None:
    prefix = unique("cli-fields-jsonl")
    own = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
           "additionalProperties": False}  # fmt: skip
    lines = [
        {"task_id": f"{prefix}-a", "messages": MESSAGES},
        {"task_id": f"{prefix}-b", "task_description": "count", "response_schema": own},
    ]
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    schema = write(tmp_path / "s.json", SCHEMA)
    run = cli("submit", "--file", str(path), "--schema", str(schema), "--wait", "30", "--quiet")
    assert run.code == EXIT_OK, run.out + run.err
    first = json.loads(cli("get", f"{prefix}-a", "--json").out)
    second = json.loads(cli("get", f"{prefix}-b", "--json").out)
    assert first["request"]["response_schema"] == SCHEMA and "sure" in first["result"]["json"]
    assert second["result"]["json"] == {"n": 0}  # its own schema wins


def test_a_csv_file_with_json_columns(cli: Cli, tmp_path: Path) -> None:
    prefix = unique("cli-fields-csv")
    path = tmp_path / "tasks.csv"
    cells = [json.dumps(MESSAGES).replace('"', '""'), json.dumps(SCHEMA).replace('"', '""')]
    path.write_text(f'task_id,messages,response_schema\n{prefix}-a,"{cells[0]}","{cells[1]}"\n')
    run = cli("submit", "--file", str(path), "--wait", "30", "--quiet")
    assert run.code == EXIT_OK, run.out + run.err
    task = json.loads(cli("get", f"{prefix}-a", "--json").out)
    assert task["request"]["messages"] == MESSAGES and task["result"]["json"]["sure"] is False


def test_csv_json_columns_name_the_column_when_malformed() -> None:
    assert csv_request({"messages": "[]", "response_schema": "{}"}) == {
        "messages": [],
        "response_schema": {},
    }
    for column, text in [("messages", "{}"), ("response_schema", "[1]"), ("messages", "nope")]:
        try:
            csv_request({column: text})
        except ValueError as error:
            assert str(error).startswith("expected a JSON"), error
        else:
            raise AssertionError(f"{column}={text!r} was accepted")


def test_the_python_client_takes_a_schema_and_reads_the_parsed_answer(stack: Any) -> None:
    with AIExecClient() as client:
        sent = client.submit({"messages": MESSAGES}, response_schema=SCHEMA, wait_s=30)
    assert sent.task is not None and sent.task.succeeded, sent
    assert sent.task.result_json == {"answer": sent.task.result_json["answer"], "sure": False}
