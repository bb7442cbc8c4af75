"""The CLI against the session stack: submit (one, a file), get, wait, list, results, status."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE
from infra.simulator.client import SimulatorClient
from tests.client.helpers import Cli, unique

BATCH = 300


def test_submit_wait_get_in_a_terminal_and_as_json(cli: Cli) -> None:
    task_id = unique("cli-one")
    run = cli("submit", "Analyze microservices", "--type", "analytical", "--id", task_id,
              "--metadata", "team=docs", "--wait", "30")  # fmt: skip
    assert run.code == EXIT_OK, run
    assert f"task {task_id}: succeeded" in run.out and "answered by openai / gpt-6.2-sol" in run.out

    run = cli("get", task_id, "--json")
    document = json.loads(run.out)
    assert run.code == EXIT_OK and document["request"]["metadata"] == {"team": "docs"}
    assert document["request"]["task_type"] == "analytical"

    run = cli("wait", task_id, "--timeout", "5")
    assert run.code == EXIT_OK and "attempts   openai:ok" in run.out

    run = cli("submit", "Write a haiku", "--via", "pubsub", "--json")
    sent = json.loads(run.out)
    assert run.code == EXIT_OK and sent["status"] == "published" and sent["via"] == "pubsub"
    assert cli("wait", sent["task_id"], "--timeout", "30").code == EXIT_OK


def test_exit_codes_scripts_rely_on(cli: Cli, stack: Any, monkeypatch: Any) -> None:
    assert cli("submit", "").code == EXIT_USAGE  # an empty prompt: refused before sending
    run = cli("submit", "x", "--temperature", "9")
    assert run.code == EXIT_USAGE and "temperature" in run.err
    assert cli("get", unique("cli-missing")).code == EXIT_FAILED
    assert cli("list", "--since", "yesterday-ish").code == EXIT_USAGE

    slow = unique("cli-slow")
    SimulatorClient(stack.simulator_url).set_fault("openai", "slow", delay_s=2.0)
    assert cli("submit", "take your time", "--id", slow).code == EXIT_OK
    assert cli("wait", slow, "--timeout", "0.2").code == EXIT_TIMEOUT

    for provider in stack.settings.providers:
        SimulatorClient(stack.simulator_url).set_fault(provider, "down")
    run = cli("submit", "nobody answers", "--wait", "30")
    assert run.code == EXIT_FAILED and ": failed" in run.out

    monkeypatch.setenv("AIEXEC_INGEST_URL", "http://127.0.0.1:9")
    assert cli("submit", "nobody listens").code == EXIT_UNREACHABLE


def _batch_file(path: Path, prefix: str) -> Path:
    lines = [
        json.dumps({"task_description": f"Batch task {n}", "metadata": {"batch": prefix}})
        for n in range(BATCH)
    ]
    lines[10:10] = ['{"task_description": ""}', "not json"]  # lines 11 and 12
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_file_of_300_tasks_with_a_correct_summary(cli: Cli, tmp_path: Path) -> None:
    prefix = unique("cli-batch")
    tasks = _batch_file(tmp_path / "tasks.jsonl", prefix)

    run = cli("submit", "--file", str(tasks), "--json")  # invalid lines: nothing is sent
    refused = json.loads(run.out)
    assert run.code == EXIT_USAGE and refused["sent"] == 0 and refused["invalid"] == 2
    assert [p["index"] for p in refused["problems"]] == [11, 12]

    run = cli("submit", "--file", str(tasks), "--skip-invalid", "--id-prefix", prefix,
              "--concurrency", "32", "--wait", "60", "--json")  # fmt: skip
    summary = json.loads(run.out)
    assert run.code == EXIT_OK, run.err
    assert (summary["total"], summary["accepted"], summary["invalid"]) == (BATCH + 2, BATCH, 2)
    assert (summary["refused"], summary["unreachable"]) == (0, 0)
    assert summary["finished"] == {"succeeded": BATCH}
    assert len(set(summary["task_ids"])) == BATCH and f"{prefix}-1" in summary["task_ids"]
    assert "submitting [" in run.err and "finishing [" in run.err  # the progress bars

    # The same file again: the ids come from the lines, so nothing new is created.
    run = cli("submit", "--file", str(tasks), "--skip-invalid", "--id-prefix", prefix,
              "--quiet", "--concurrency", "32")  # fmt: skip
    assert run.code == EXIT_OK and f"{BATCH} accepted, 0 refused" in run.out
    assert run.err == ""

    export = tmp_path / "out" / "results.csv"
    run = cli("results", "--since", "10m", "--format", "csv", "--out", str(export), "--json")
    assert run.code == EXIT_OK and json.loads(run.out)["out"] == str(export)
    rows = [r for r in csv.DictReader(export.open()) if r["task_id"].startswith(f"{prefix}-")]
    assert len(rows) == BATCH and {r["status"] for r in rows} == {"succeeded"}
    assert all(r["text"] and json.loads(r["metadata"]) == {"batch": prefix} for r in rows)


def test_a_csv_file_with_typed_columns(cli: Cli, tmp_path: Path) -> None:
    prefix = unique("cli-csv")
    path = tmp_path / "tasks.csv"
    path.write_text(
        "task_id,task_description,task_type,temperature,providers,metadata.team\n"
        f"{prefix}-a,Write a limerick,creative,0.7,vertex,blue\n"
        f'{prefix}-b,"Explain queues, briefly",,,"vertex,openai",\n'
    )
    run = cli("submit", "--file", str(path), "--wait", "30", "--quiet")
    assert run.code == EXIT_OK, run.out + run.err
    assert "2 accepted" in run.out and "finished: 2 succeeded" in run.out
    run = cli("get", f"{prefix}-a", "--json")
    request = json.loads(run.out)["request"]
    assert request["temperature"] == 0.7 and request["providers"] == ["vertex"]
    assert request["metadata"] == {"team": "blue"}
    assert json.loads(cli("get", f"{prefix}-a", "--json").out)["result"]["provider"] == "vertex"


def test_list_failed_since_and_export_jsonl(cli: Cli, stack: Any) -> None:
    ok, failed = unique("cli-list-ok"), unique("cli-list-failed")
    assert cli("submit", "fine", "--id", ok, "--wait", "30").code == EXIT_OK
    for provider in stack.settings.providers:
        SimulatorClient(stack.simulator_url).set_fault(provider, "down")
    assert cli("submit", "doomed", "--id", failed, "--wait", "30").code == EXIT_FAILED

    run = cli("list", "--status", "failed", "--since", "1d")
    assert run.code == EXIT_OK and run.out.startswith("created (UTC)")
    assert failed in run.out and ok not in run.out
    listed = json.loads(cli("list", "--status", "failed,succeeded", "--since", "5m", "--json").out)
    assert {ok, failed} <= {t["task_id"] for t in listed}
    assert cli("list", "--status", "lost").code == EXIT_USAGE

    run = cli("results", "--since", "5m", "--format", "jsonl")
    rows = {r["task_id"]: r for r in map(json.loads, io.StringIO(run.out))}
    assert rows[ok]["status"] == "succeeded" and rows[failed]["status"] == "failed"
    assert rows[failed]["error_code"] and rows[ok]["total_tokens"] > 0


def test_status_shows_the_stack_providers_circuits_and_counts(cli: Cli, stack: Any) -> None:
    run = cli("status", "--json")
    status = json.loads(run.out)
    assert run.code == EXIT_OK and status["healthy"] is True
    assert {"pubsub", "firestore", "simulator", "ingest"} <= set(status["stack"])
    assert all(part["answers"] for part in status["stack"].values())
    assert [p["name"] for p in status["providers"]] == stack.settings.providers
    assert {p["circuit"] for p in status["providers"]} == {"closed"}
    statuses = {"queued", "batched", "running", "succeeded", "failed", "rejected"}
    assert set(status["tasks"]) == statuses

    run = cli("status")
    assert run.code == EXIT_OK and "providers (chain order):" in run.out
    rows = {line.split()[0]: line.split() for line in run.out.splitlines() if line.startswith("  ")}
    for name in stack.settings.providers:
        assert rows[name][-1] == "closed", run.out  # the circuit column
    assert "tasks: queued" in run.out
