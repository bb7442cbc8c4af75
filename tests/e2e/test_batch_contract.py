"""The batch lane's contract on the live stack (issue 16): a `mode: batch` task is accepted and
waits, queued, for the batcher (no worker runs it, not even on a stray delivery); a batch task
asking for less than an hour is refused naming `deadline_s`, over HTTP and Pub/Sub; the sweeper
moves a batch task whose deadline is near to the online lane, where it succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.bus import Bus
from shared.clock import utcnow
from shared.schemas import BATCH_MIN_DEADLINE_S, TaskMessage
from shared.sweeper import Sweeper
from tests.e2e.conftest import Pipeline, unique


@pytest.fixture
def batch_ids(pipeline: Pipeline) -> Iterator[list[str]]:
    """Batch tasks a test leaves queued are removed after it, so no later flush batches them."""
    ids: list[str] = []
    yield ids
    for task_id in ids:
        pipeline.store.task_ref(task_id).delete()


def test_a_batch_task_waits_queued_and_no_worker_runs_it(
    pipeline: Pipeline, batch_ids: list[str]
) -> None:
    task_id = unique("batch")
    batch_ids.append(task_id)
    body = {"task_id": task_id, "task_description": "Summarise the CAP theorem", "mode": "batch"}
    answer = pipeline.post("/tasks", body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    task = pipeline.store.get(task_id)
    assert task is not None
    assert (task["status"], task["mode"], task["request"]["mode"]) == ("queued", "batch", "batch")
    assert task["attempts"] == []
    deadline_s = (task["deadline_at"] - task["created_at"]).total_seconds()
    assert deadline_s == pipeline.settings.batch_deadline_s  # the batch default, not 900 s
    # A stray delivery to the first provider's worker is refused: the batch lane owns it.
    first = task["chain"][0]
    stray = TaskMessage(task_id=task_id, chain=task["chain"], hop=0, reason="test")
    pipeline.bus.publish(pipeline.settings.provider_topic(first), stray.model_dump_json().encode())
    refused = pipeline.wait_for_log(
        f"worker-{first}",
        lambda e: e.get("task_id") == task_id and e.get("message") == "delivery not processed",
    )
    assert refused["reason"] == "batch_lane"
    after = pipeline.store.get(task_id)
    assert after is not None
    assert (after["status"], after["mode"], after["attempts"]) == ("queued", "batch", [])
    assert pipeline.usage_ids(task_id) == []


def test_a_batch_task_over_v2_is_answered_pending_at_once(
    pipeline: Pipeline, batch_ids: list[str]
) -> None:
    task_id = unique("batch-v2")
    batch_ids.append(task_id)
    answer = pipeline.post("/", {"task_id": task_id, "task_description": "hi", "mode": "batch"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "task_pending"
    task = pipeline.store.get(task_id)
    assert task is not None and (task["status"], task["mode"]) == ("queued", "batch")


@pytest.mark.parametrize("deadline_s", [60, BATCH_MIN_DEADLINE_S - 1])
def test_a_batch_deadline_under_an_hour_is_refused_naming_deadline_s(
    pipeline: Pipeline, deadline_s: float
) -> None:
    task_id = unique("batch-short")
    body = {"task_id": task_id, "task_description": "hi", "mode": "batch", "deadline_s": deadline_s}
    answer = pipeline.post("/tasks", body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_field", "deadline_s")
    assert "3600" in error["message"] and "batch" in error["message"]
    assert pipeline.store.get(task_id) is None
    online = {"task_description": "hi", "deadline_s": deadline_s, "mode": "online"}
    assert pipeline.post("/tasks", online).status_code == 202  # the bound is the batch lane's


def test_a_short_batch_deadline_published_is_rejected_naming_deadline_s(
    pipeline: Pipeline,
) -> None:
    task_id = unique("batch-short-pubsub")
    pipeline.publish_task(
        {"task_id": task_id, "task_description": "hi", "mode": "batch", "deadline_s": 600}
    )
    task = pipeline.wait(task_id)
    assert (task["status"], task["error"]["field"]) == ("rejected", "deadline_s")


def test_the_sweeper_moves_a_batch_task_near_its_deadline_online(pipeline: Pipeline) -> None:
    task_id = unique("batch-late")
    body = {"task_id": task_id, "task_description": "Write a haiku", "mode": "batch"}
    assert pipeline.post("/tasks", body).status_code == 202
    margin = pipeline.settings.batch_online_margin_s
    near = utcnow() + timedelta(seconds=margin / 2)  # inside the margin, not yet due
    pipeline.store.task_ref(task_id).update({"deadline_at": near})
    sweeper = Sweeper(pipeline.settings, pipeline.store, Bus(pipeline.settings))
    report = sweeper.sweep()
    assert task_id in report.moved_online and task_id not in report.expired
    assert task_id not in sweeper.sweep().moved_online  # moved once
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded", task
    assert task["mode"] == "online" and task["request"]["mode"] == "batch"
    moved, answered = task["attempts"]
    assert (moved["outcome"], moved["lane"], moved["calls"]) == ("batch_deadline", "batch", 0)
    assert moved["provider"] == task["chain"][0]
    assert answered["outcome"] == "ok" and "lane" not in answered
    assert task["deadline_at"] == near  # the time left, not a new deadline
    (usage_id,) = pipeline.usage_ids(task_id)
    usage = pipeline.store.client.collection(pipeline.settings.collection_usage).document(usage_id)
    assert (usage.get().to_dict() or {}).get("lane") == "online"
