"""Recovery paths on the real stack: sweeper, replay, dead-lettered deliveries, breaker state."""

from __future__ import annotations

from datetime import timedelta

from shared.bus import Bus
from shared.clock import utcnow
from shared.schemas import TaskMessage
from shared.sweeper import Sweeper
from tests.e2e.conftest import Pipeline, unique


def sweeper(pipeline: Pipeline) -> Sweeper:
    return Sweeper(pipeline.settings, pipeline.store, Bus(pipeline.settings))


def test_sweeper_expires_a_task_past_its_deadline(pipeline: Pipeline) -> None:
    task_id = unique("expired")
    # A queued task whose message never arrived (created directly, not published).
    pipeline.store.commit_creation(
        pipeline.store.creation(task_id, "c", {"task_description": "late"}, ["openai", "vertex"])
    )
    pipeline.store.task_ref(task_id).update({"deadline_at": utcnow() - timedelta(seconds=1)})
    report = sweeper(pipeline).sweep()
    assert task_id in report.expired
    task = pipeline.wait(task_id, 5)
    assert (task["status"], task["error"]["code"]) == ("failed", "expired")
    assert task_id not in sweeper(pipeline).sweep().expired  # terminal: left alone


def test_sweeper_republishes_a_task_whose_message_was_lost(pipeline: Pipeline) -> None:
    task_id = unique("lost-message")
    pipeline.store.commit_creation(
        pipeline.store.creation(task_id, "c", {"task_description": "found"}, ["openai", "vertex"])
    )
    stale = utcnow() - timedelta(seconds=pipeline.settings.requeue_after_s + 1)
    pipeline.store.task_ref(task_id).update({"updated_at": stale})
    assert task_id in sweeper(pipeline).sweep().republished
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert task.get("requeues") == 1


def test_replay_reruns_a_failed_task_keeping_its_history(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "auth")
    pipeline.fault("vertex", "auth")
    task_id = unique("replay")
    pipeline.post("/tasks", {"task_description": "again", "task_id": task_id})
    failed = pipeline.wait(task_id)
    assert failed["status"] == "failed"
    pipeline.reset()
    replayed = pipeline.store.replay(task_id)
    assert replayed is not None and replayed["status"] == "queued"
    message = TaskMessage(task_id=task_id, chain=replayed["chain"], hop=0, reason="replay")
    pipeline.bus.publish("tasks-openai", message.model_dump_json().encode())
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert [a["provider"] for a in task["attempts"]] == ["openai", "vertex", "openai"]
    assert task["replays"] == 1
    assert task["previous_errors"][0]["code"] == "all_providers_failed"
    assert pipeline.store.replay(task_id) is None  # only failed tasks are replayed


def test_a_dead_lettered_delivery_is_recorded_and_run_by_the_next_provider(
    pipeline: Pipeline,
) -> None:
    task_id = unique("dead-lettered")
    pipeline.store.commit_creation(
        pipeline.store.creation(task_id, "c", {"task_description": "dlq"}, ["openai", "vertex"])
    )
    # What Pub/Sub's dead-letter policy forwards: the openai hop's message, with its attributes.
    message = TaskMessage(task_id=task_id, chain=["openai", "vertex"], hop=0)
    pipeline.bus.publish(
        "tasks-vertex",
        message.model_dump_json().encode(),
        CloudPubSubDeadLetterSourceSubscription="projects/demo-aiexec/subscriptions/x",
        CloudPubSubDeadLetterSourceDeliveryCount="5",
    )
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert [(a["provider"], a["outcome"]) for a in task["attempts"]] == [
        ("openai", "dead_lettered"),
        ("vertex", "ok"),
    ]
    assert task["attempts"][0]["calls"] == 0
    assert len(pipeline.usage_ids(task_id)) == 1


def open_openai_circuit(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "down")
    for _ in range(2):  # 3 failed calls each: the breaker opens at 5
        task_id = unique("open-circuit")
        pipeline.post("/tasks", {"task_description": "x", "task_id": task_id})
        pipeline.wait(task_id)


def test_health_shows_an_open_circuit(pipeline: Pipeline) -> None:
    open_openai_circuit(pipeline)
    circuits = {p["name"]: p["circuit"] for p in pipeline.http.get("/health").json()["providers"]}
    assert circuits == {"openai": "open", "vertex": "closed"}


def test_a_new_task_enters_past_an_open_circuit(pipeline: Pipeline) -> None:
    open_openai_circuit(pipeline)
    openai_calls = pipeline.calls("openai")
    task_id = unique("routed")

    accepted = pipeline.post("/tasks", {"task_description": "x", "task_id": task_id})

    assert accepted.status_code == 202
    task = pipeline.wait(task_id)
    assert (task["status"], task["result"]["provider"]) == ("succeeded", "vertex")
    tried = [(a["provider"], a["outcome"], a["calls"]) for a in task["attempts"]]
    assert tried == [("openai", "circuit_open", 0), ("vertex", "ok", 1)]
    assert pipeline.calls("openai") == openai_calls
    entry = pipeline.wait_for_log(
        "ingest", lambda e: e.get("task_id") == task_id and "open_circuits_skipped" in e
    )
    assert entry["open_circuits_skipped"] == ["openai"]  # routed at ingest, not by a worker
