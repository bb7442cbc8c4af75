"""The simulator's OpenAI Files and Batches APIs through the real `openai` SDK: a batch from
upload to output, its states, cancel, list with metadata, each batch fault, invalid input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from infra.simulator import SimulatorClient
from infra.simulator.batch_engine import BatchEngine, Phase, line_fails
from tests.providers.sim_batches import (
    ENDPOINT,
    chat_body,
    file_lines,
    finished,
    jsonl,
    openai_lines,
    submit,
)
from tests.providers.sim_cli import run_cli

REPO = Path(__file__).resolve().parents[2]


def test_a_batch_answers_every_line_as_the_online_call_would(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    sim.set_batch_delay(0.3)
    ids = [f"task-{n}" for n in range(12)]

    created = submit(openai_client, openai_lines(ids), {"aiexec_job_id": "bj_1"})
    done = finished(openai_client, created)

    assert created.status == "validating" and done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (12, 12)
    assert done.request_counts.failed == 0 and done.error_file_id is None
    assert done.model == "gpt-6.1-terra" and done.metadata == {"aiexec_job_id": "bj_1"}
    assert done.completed_at is not None and done.in_progress_at is not None
    lines = file_lines(openai_client, done.output_file_id)
    assert [line["custom_id"] for line in lines] == ids
    first = lines[0]
    assert first["error"] is None and first["response"]["status_code"] == 200
    online = openai_client.chat.completions.create(**chat_body("Summarize item task-0"))
    body = first["response"]["body"]
    assert body["choices"][0]["message"]["content"] == online.choices[0].message.content
    assert online.usage is not None and body["usage"] == online.usage.model_dump(exclude_none=True)
    assert done.usage is not None
    prompt = sum(line["response"]["body"]["usage"]["prompt_tokens"] for line in lines)
    assert done.usage.input_tokens == prompt > 0
    assert sim.calls("openai") == 1  # the online call; batch lines are not model calls


def test_a_job_validates_runs_and_finalizes_in_shares_of_its_delay() -> None:
    job = BatchEngine(10.0).create("openai", "batch_1", [], "ok", None)
    t0 = job.created_at

    phases = [job.phase(t0 + s) for s in (0, 0.99, 1.0, 8.99, 9.0, 9.99, 10.0, 1e6)]

    assert (
        phases
        == [Phase.QUEUED] * 2 + [Phase.RUNNING] * 2 + [Phase.FINALIZING] * 2 + [Phase.COMPLETED] * 2
    )
    failing = BatchEngine(10.0).create("openai", "batch_2", [], "batch-fail", None)
    assert [failing.phase(failing.created_at + s) for s in (0.5, 1.0)] == [
        Phase.QUEUED,
        Phase.FAILED,
    ]
    expiring = BatchEngine(10.0).create("openai", "batch_3", [], "batch-expire", None)
    assert expiring.phase(expiring.created_at + 10.0) == Phase.EXPIRED


def test_the_timestamps_follow_the_delay(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    sim.set_batch_delay(0.2)

    done = finished(openai_client, submit(openai_client, openai_lines(["a"])))

    stamps = (done.created_at, done.in_progress_at, done.finalizing_at, done.completed_at)
    assert None not in stamps and list(stamps) == sorted(stamps)  # type: ignore[type-var]
    assert done.expires_at == done.created_at + 24 * 3600
    assert (done.failed_at, done.expired_at, done.cancelled_at) == (None, None, None)


def test_a_line_the_model_refuses_goes_to_the_error_file(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    sim.set_batch_delay(0)
    rows = openai_lines(["good", "bad"])
    rows[1]["body"] = chat_body("[sim:invalid] this one")

    done = finished(openai_client, submit(openai_client, rows))

    assert done.status == "completed"
    assert [line["custom_id"] for line in file_lines(openai_client, done.output_file_id)] == [
        "good"
    ]
    [error] = file_lines(openai_client, done.error_file_id)
    assert error["custom_id"] == "bad" and error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["type"] == "invalid_request_error"


def test_cancel(sim: SimulatorClient, openai_client: openai.OpenAI) -> None:
    sim.set_batch_delay(2.0)
    created = submit(openai_client, openai_lines(["x", "y"]))

    cancelling = openai_client.batches.cancel(created.id)
    done = finished(openai_client, created)

    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    assert done.status == "cancelled" and done.cancelled_at is not None
    assert done.output_file_id is None and done.error_file_id is None
    with pytest.raises(openai.ConflictError, match="cancelled"):
        openai_client.batches.cancel(created.id)


def test_list_shows_each_batch_with_its_metadata_newest_first(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    created = [
        submit(openai_client, openai_lines([f"t{n}"]), {"aiexec_job_id": f"bj_{n}"})
        for n in range(3)
    ]

    listed = list(openai_client.batches.list(limit=2))  # two pages

    assert [b.id for b in listed] == [b.id for b in reversed(created)]
    assert [b.metadata for b in listed] == [{"aiexec_job_id": f"bj_{n}"} for n in (2, 1, 0)]


def test_batch_fail_fails_the_jobs_created_under_it(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    sim.set_batch_delay(0.2)
    sim.set_fault("openai", "batch-fail")
    created = submit(openai_client, openai_lines(["a", "b"]))
    sim.set_fault("openai", "ok")  # the job keeps the fault it was created under
    healthy = submit(openai_client, openai_lines(["c"]))

    failed = finished(openai_client, created)

    assert failed.status == "failed" and failed.failed_at is not None
    assert failed.errors is not None and failed.errors.data
    assert failed.errors.data[0].code == "batch_failed"
    assert failed.output_file_id is None
    assert finished(openai_client, healthy).status == "completed"
    assert openai_client.chat.completions.create(**chat_body("online")).choices


def test_a_batch_fault_with_a_count_counts_jobs_not_model_calls(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    sim.set_batch_delay(0)
    sim.set_fault("openai", "batch-fail", count=1)
    assert openai_client.chat.completions.create(**chat_body("online")).choices

    first = finished(openai_client, submit(openai_client, openai_lines(["a"])))
    second = finished(openai_client, submit(openai_client, openai_lines(["b"])))

    assert (first.status, second.status) == ("failed", "completed")
    assert sim.faults()["openai"]["mode"] == "ok"


def test_batch_expire_answers_the_first_half_and_expires_the_rest(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    sim.set_batch_delay(0.2)
    sim.set_fault("openai", "batch-expire")
    ids = [f"e{n}" for n in range(6)]

    done = finished(openai_client, submit(openai_client, openai_lines(ids)))

    assert done.status == "expired" and done.expired_at is not None
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (3, 3)
    answered = file_lines(openai_client, done.output_file_id)
    assert [line["custom_id"] for line in answered] == ids[:3]
    expired = file_lines(openai_client, done.error_file_id)
    assert [line["custom_id"] for line in expired] == ids[3:]
    assert {line["error"]["code"] for line in expired} == {"batch_expired"}
    assert all(line["response"] is None for line in expired)


def test_batch_line_errors_fail_the_lines_their_hash_names(
    sim: SimulatorClient, openai_client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.set_batch_delay(0)
    ids = [f"task-{n}" for n in range(40)]
    failing = [custom_id for custom_id in ids if line_fails(custom_id)]
    assert 0 < len(failing) < len(ids)  # the fixture names both kinds
    assert run_cli(monkeypatch, sim.url, "fault", "openai", "batch-line-errors") == 0

    done = finished(openai_client, submit(openai_client, openai_lines(ids)))

    errors = file_lines(openai_client, done.error_file_id)
    assert [line["custom_id"] for line in errors] == failing
    assert {line["response"]["status_code"] for line in errors} == {500}
    answered = file_lines(openai_client, done.output_file_id)
    assert len(answered) == len(ids) - len(failing)
    assert done.status == "completed"


def test_an_invalid_input_file_fails_validation_naming_its_lines(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    sim.set_batch_delay(0)
    rows = openai_lines(["a", "a", "b"])
    rows[2]["body"]["model"] = "gpt-other"

    done = finished(openai_client, submit(openai_client, rows))

    assert done.status == "failed" and done.errors is not None and done.errors.data
    assert [(e.code, e.line) for e in done.errors.data] == [
        ("duplicate_custom_id", 2),
        ("mismatched_model", 3),
    ]


def test_files_are_kept_read_and_deleted(openai_client: openai.OpenAI) -> None:
    data = jsonl(openai_lines(["one"]))
    uploaded = openai_client.files.create(file=("in.jsonl", data), purpose="batch")

    assert openai_client.files.retrieve(uploaded.id).bytes == len(data)
    assert openai_client.files.content(uploaded.id).content == data
    assert openai_client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        openai_client.files.retrieve(uploaded.id)
    with pytest.raises(openai.BadRequestError, match="purpose"):
        openai_client.files.create(file=("in.jsonl", data), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="input_file_id"):
        openai_client.batches.create(
            input_file_id="file-missing", endpoint=ENDPOINT, completion_window="24h"
        )


def test_an_outage_takes_the_batch_api_down_too(
    sim: SimulatorClient, openai_client: openai.OpenAI
) -> None:
    sim.set_fault("openai", "down")

    with pytest.raises(openai.InternalServerError):
        openai_client.files.create(file=("in.jsonl", b"{}\n"), purpose="batch")
    assert sim.calls("openai") == 0  # not a model call


def test_the_delay_is_set_at_run_time_and_reset_restores_it(
    sim: SimulatorClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started_with = sim.batch()["delay_s"]

    assert run_cli(monkeypatch, sim.url, "batch", "--delay", "0.25") == 0
    assert "batch jobs take 0.25 s" in capsys.readouterr().out
    assert sim.batch()["delay_s"] == 0.25
    assert run_cli(monkeypatch, sim.url, "batch", "--delay", "-1") == 2
    sim.reset()
    assert sim.batch() == {"delay_s": started_with, "jobs": []}


def test_the_entry_point_takes_the_delay_from_its_setting() -> None:
    env = os.environ | {"AIEXEC_SIM_BATCH_DELAY_S": "0.75"}
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.simulator", "--port", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())  # blocks until the port is bound
        assert SimulatorClient(started["url"]).batch()["delay_s"] == 0.75
    finally:
        process.terminate()
        process.wait(timeout=10)
