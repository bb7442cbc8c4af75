"""The simulator's Vertex AI batch prediction jobs through google-genai (`vertexai=True`), input
and output in the Cloud Storage emulator: create/get/list/cancel, and each batch fault."""

from __future__ import annotations

import pytest
from google import genai
from google.cloud import storage
from google.genai import errors, types

from infra.simulator import SimulatorClient
from infra.simulator.batch_engine import line_fails
from tests.providers.conftest import BATCH_BUCKET
from tests.providers.sim_batches import (
    GEMINI_MODEL,
    gemini_request,
    jsonl,
    predictions,
    vertex_lines,
    wait_for,
)

ENDED = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


def create(
    client: genai.Client, bucket: storage.Bucket, job_id: str, keys: list[str]
) -> types.BatchJob:
    """Write the input under batch/<job_id>/ and create the job, as the system's batcher does."""
    bucket.blob(f"batch/{job_id}/input.jsonl").upload_from_string(jsonl(vertex_lines(keys)))
    return client.batches.create(
        model=GEMINI_MODEL,
        src=f"gs://{BATCH_BUCKET}/batch/{job_id}/input.jsonl",
        config=types.CreateBatchJobConfig(
            dest=f"gs://{BATCH_BUCKET}/batch/{job_id}/output/", display_name=job_id
        ),
    )


def ended(client: genai.Client, job: types.BatchJob) -> types.BatchJob:
    assert job.name is not None
    name = job.name
    return wait_for(lambda: client.batches.get(name=name), lambda j: state(j) in ENDED)


def state(job: types.BatchJob) -> str:
    return job.state.value if job.state is not None else ""


def test_a_job_reads_its_input_and_writes_predictions_in_cloud_storage(
    sim: SimulatorClient, genai_client: genai.Client, bucket: storage.Bucket
) -> None:
    sim.set_batch_delay(0.3)
    keys = [f"task-{n}" for n in range(8)]

    created = create(genai_client, bucket, "bj_v1", keys)
    done = ended(genai_client, created)

    assert state(created) == "JOB_STATE_PENDING" and state(done) == "JOB_STATE_SUCCEEDED"
    assert done.display_name == "bj_v1"
    assert done.model == f"publishers/google/models/{GEMINI_MODEL}"
    assert done.start_time is not None and done.end_time is not None
    assert done.completion_stats is not None
    assert (done.completion_stats.successful_count, done.completion_stats.failed_count) == (8, 0)
    assert done.output_info is not None and done.output_info.gcs_output_directory is not None
    folder = done.output_info.gcs_output_directory
    assert folder.startswith(f"gs://{BATCH_BUCKET}/batch/bj_v1/output/prediction-model-")
    names, rows = predictions(bucket, "batch/bj_v1/output/")
    assert names == [folder.removeprefix(f"gs://{BATCH_BUCKET}/") + "/predictions.jsonl"]
    assert [row["key"] for row in rows] == keys
    assert all(row["status"] == "" and row["processed_time"] for row in rows)
    online = genai_client.models.generate_content(
        model=GEMINI_MODEL, contents="Summarize item task-0"
    )
    assert rows[0]["request"] == gemini_request("Summarize item task-0")
    response = rows[0]["response"]
    assert response["candidates"][0]["content"]["parts"][0]["text"] == online.text
    assert online.usage_metadata is not None
    usage = response["usageMetadata"]
    assert usage["promptTokenCount"] == online.usage_metadata.prompt_token_count
    assert usage["candidatesTokenCount"] == online.usage_metadata.candidates_token_count
    assert sim.calls("vertex") == 1  # the online call


def test_list_finds_a_job_by_its_display_name(
    sim: SimulatorClient, genai_client: genai.Client, bucket: storage.Bucket
) -> None:
    sim.set_batch_delay(60)
    for job_id in ("bj_a", "bj_b", "bj_c"):
        create(genai_client, bucket, job_id, ["k"])

    found = list(genai_client.batches.list(config={"filter": 'display_name="bj_b"'}))
    everything = list(genai_client.batches.list(config={"page_size": 2}))  # two pages

    assert [job.display_name for job in found] == ["bj_b"]
    assert [job.display_name for job in everything] == ["bj_c", "bj_b", "bj_a"]
    assert {state(job) for job in everything} == {"JOB_STATE_PENDING"}
    with pytest.raises(errors.ClientError):
        list(genai_client.batches.list(config={"filter": 'labels.x="y"'}))


def test_cancel(sim: SimulatorClient, genai_client: genai.Client, bucket: storage.Bucket) -> None:
    sim.set_batch_delay(2.0)
    created = create(genai_client, bucket, "bj_cancel", ["a", "b"])
    assert created.name is not None

    genai_client.batches.cancel(name=created.name)
    cancelling = genai_client.batches.get(name=created.name)
    done = ended(genai_client, created)

    assert state(cancelling) in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert state(done) == "JOB_STATE_CANCELLED" and done.error is not None
    assert predictions(bucket, "batch/bj_cancel/output/") == ([], [])
    with pytest.raises(errors.ClientError, match="FAILED_PRECONDITION"):
        genai_client.batches.cancel(name=created.name)


def test_batch_fail(
    sim: SimulatorClient, genai_client: genai.Client, bucket: storage.Bucket
) -> None:
    sim.set_batch_delay(0.2)
    sim.set_fault("vertex", "batch-fail")

    done = ended(genai_client, create(genai_client, bucket, "bj_fail", ["a"]))

    assert state(done) == "JOB_STATE_FAILED"
    assert done.error is not None and done.error.code == 13 and "batch-fail" in str(done.error)
    assert predictions(bucket, "batch/bj_fail/output/") == ([], [])


def test_batch_expire_runs_nothing(
    sim: SimulatorClient, genai_client: genai.Client, bucket: storage.Bucket
) -> None:
    sim.set_batch_delay(0.2)
    sim.set_fault("vertex", "batch-expire")

    done = ended(genai_client, create(genai_client, bucket, "bj_exp", ["a", "b"]))

    assert state(done) == "JOB_STATE_EXPIRED" and done.error is not None
    assert done.completion_stats is not None and done.completion_stats.incomplete_count == 2
    assert predictions(bucket, "batch/bj_exp/output/") == ([], [])


def test_batch_line_errors_fail_the_rows_their_key_names(
    sim: SimulatorClient, genai_client: genai.Client, bucket: storage.Bucket
) -> None:
    sim.set_batch_delay(0)
    keys = [f"task-{n}" for n in range(40)]
    failing = [key for key in keys if line_fails(key)]
    assert 0 < len(failing) < len(keys)
    sim.set_fault("vertex", "batch-line-errors")

    done = ended(genai_client, create(genai_client, bucket, "bj_lines", keys))

    _, rows = predictions(bucket, "batch/bj_lines/output/")
    assert [row["key"] for row in rows] == keys  # every row, in input order
    errored = [row for row in rows if row["status"]]
    assert [row["key"] for row in errored] == failing
    assert all("response" not in row and "INTERNAL" in row["status"] for row in errored)
    assert done.completion_stats is not None
    assert done.completion_stats.failed_count == len(failing)
    assert state(done) == "JOB_STATE_SUCCEEDED"


def test_a_missing_input_fails_the_job_and_an_unknown_model_is_refused(
    sim: SimulatorClient, genai_client: genai.Client, bucket: storage.Bucket
) -> None:
    sim.set_batch_delay(0)
    source = f"gs://{BATCH_BUCKET}/batch/none/input.jsonl"

    done = ended(genai_client, genai_client.batches.create(model=GEMINI_MODEL, src=source))

    assert state(done) == "JOB_STATE_FAILED"
    assert done.error is not None and done.error.code == 3
    with pytest.raises(errors.ClientError) as refused:
        genai_client.batches.create(model="gemini-0-nonexistent", src=source)
    assert refused.value.code == 404


def test_a_request_the_model_refuses_is_a_failed_row(
    sim: SimulatorClient, genai_client: genai.Client, bucket: storage.Bucket
) -> None:
    sim.set_batch_delay(0)
    rows = [{"key": "ok", "request": gemini_request("fine")},
            {"key": "bad", "request": gemini_request("[sim:invalid] no")}]  # fmt: skip
    bucket.blob("batch/bj_bad/input.jsonl").upload_from_string(jsonl(rows))

    done = ended(
        genai_client,
        genai_client.batches.create(
            model=GEMINI_MODEL, src=f"gs://{BATCH_BUCKET}/batch/bj_bad/input.jsonl"
        ),
    )

    _, written = predictions(bucket, "batch/bj_bad/")
    assert [(row["key"], "response" in row) for row in written] == [("ok", True), ("bad", False)]
    assert written[1]["status"].startswith("Bad Request")
    assert done.completion_stats is not None and done.completion_stats.failed_count == 1
