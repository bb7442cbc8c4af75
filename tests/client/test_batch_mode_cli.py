"""The batch lane from the client and the CLI against the session stack (issue 16): `aiexec submit
--mode batch` (one task, and for every task of a file without its own `mode`), JSONL and CSV
files carrying `mode`, `submit(mode="batch")`, and the task shown `queued (batch)`; a short
batch deadline is refused before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiexec.cli.main import EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE
from aiexec.client import AIExecClient, TaskValidationError
from shared.store import TaskStore
from tests.client.helpers import Cli, unique


@pytest.fixture
def leftovers(stack: Any) -> Iterator[list[str]]:
    """Document ids of batch tasks a test leaves queued: removed after it, so that no later
    flush of the batch lane takes them."""
    doc_ids: list[str] = []
    yield doc_ids
    store = TaskStore(stack.settings)
    for doc_id in doc_ids:
        store.task_ref(doc_id).delete()


def stored(stack: Any, doc_id: str) -> dict[str, Any]:
    task = TaskStore(stack.settings).get(doc_id)
    assert task is not None, doc_id
    return task


def test_submit_mode_batch_is_queued_and_shown_as_the_batch_lane(
    cli: Cli, stack: Any, leftovers: list[str]
) -> None:
    task_id = unique("cli-batch")
    leftovers.append(task_id)
    run = cli("submit", "Summarise the CAP theorem", "--mode", "batch", "--id", task_id, "--json")
    assert run.code == EXIT_OK, run
    assert json.loads(run.out)["status"] == "queued"
    task = stored(stack, task_id)
    assert (task["mode"], task["request"]["mode"], task["status"]) == ("batch", "batch", "queued")
    shown = cli("get", task_id)
    assert f"task {task_id}: queued (batch)" in shown.out, shown
    listed = cli("list", "--status", "queued", "--since", "1h")
    line = next(row for row in listed.out.splitlines() if task_id in row)
    assert "queued (batch)" in line
    waited = cli("wait", task_id, "--timeout", "0.5")  # batched or queued: still waiting
    assert waited.code == EXIT_TIMEOUT, waited


def test_a_short_batch_deadline_is_refused_before_sending(cli: Cli, stack: Any) -> None:
    task_id = unique("cli-batch-short")
    run = cli("submit", "hi", "--mode", "batch", "--deadline", "600", "--id", task_id)
    assert run.code == EXIT_USAGE and "deadline_s" in run.err, run
    assert TaskStore(stack.settings).get(task_id) is None


def test_files_carry_mode_and_mode_fills_in_for_tasks_without_one(
    cli: Cli, stack: Any, tmp_path: Path, leftovers: list[str]
) -> None:
    prefix = unique("cli-batch-file")
    lines = [
        {"task_description": "one", "mode": "batch"},
        {"task_description": "two", "mode": "online"},
        {"task_description": "three"},
    ]
    jsonl = tmp_path / "tasks.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    run = cli("submit", "--file", str(jsonl), "--id-prefix", prefix, "--mode", "batch", "--json")
    assert run.code == EXIT_OK, run
    modes = [stored(stack, f"{prefix}-{n}")["mode"] for n in (1, 2, 3)]
    assert modes == ["batch", "online", "batch"]  # a task's own mode wins over --mode
    leftovers += [f"{prefix}-1", f"{prefix}-3"]
    csv_prefix = unique("cli-batch-csv")
    csv_file = tmp_path / "tasks.csv"
    csv_file.write_text("task_description,mode\nfour,batch\nfive,\n", encoding="utf-8")
    run = cli("submit", "--file", str(csv_file), "--id-prefix", csv_prefix, "--json")
    assert run.code == EXIT_OK, run
    leftovers.append(f"{csv_prefix}-2")  # CSV tasks are named after their line (header: 1)
    assert stored(stack, f"{csv_prefix}-2")["mode"] == "batch"
    assert stored(stack, f"{csv_prefix}-3")["mode"] == "online"  # an empty cell: not set


def test_the_python_client_submits_to_the_batch_lane(stack: Any, leftovers: list[str]) -> None:
    with AIExecClient(stack.settings, client_id="tests") as client:
        sent = client.submit({"task_description": "Explain idempotency"}, mode="batch")
        leftovers.append(client.doc_id(sent.task_id))
        assert sent.status == "queued"
        task = client.get(sent.task_id)
        assert task is not None and (task.status, task.mode) == ("queued", "batch")
        with pytest.raises(TaskValidationError) as refused:
            client.submit({"task_description": "x", "deadline_s": 60}, mode="batch")
        assert "deadline_s" in str(refused.value)
