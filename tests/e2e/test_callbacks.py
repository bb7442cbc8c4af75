"""Completion callbacks on the live stack: a signed POST per finished task (succeeded, failed,
refused by the provider after acceptance, expired), verified with the client's helper; one
delivery however many duplicate events; retried with the same webhook-id while the receiver is
down; a receiver's 400 is final."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from aiexec.cli.webhook_receiver import Receiver
from aiexec.client.webhooks import verify
from infra.localstack.envs import LOCAL_CALLBACK_SECRET
from infra.localstack.ports import port_free
from shared.results import publish_result
from tests.e2e.conftest import Pipeline, unique

CALLBACK_WAIT_S = 60.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(0).start()
    yield started
    started.stop()


def wait_callback(pipeline: Pipeline, task_id: str, status: str) -> dict[str, Any]:
    """The task once its callback record reaches `status` (polled; bounded)."""
    deadline = time.monotonic() + CALLBACK_WAIT_S
    task: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        task = pipeline.store.get(task_id)
        if task and (task.get("callback") or {}).get("status") == status:
            return task
        time.sleep(0.1)
    raise AssertionError(f"callback of {task_id} not {status} in {CALLBACK_WAIT_S}s: {task}")


def submit(pipeline: Pipeline, receiver_url: str, **fields: Any) -> str:
    task_id = unique("cb")
    body = {"task_id": task_id, "task_description": "hello", "callback_url": receiver_url}
    answer = pipeline.post("/tasks", body | fields)
    assert answer.status_code == 202, answer.text
    return task_id


def check_delivery(receiver: Receiver, task: dict[str, Any]) -> dict[str, Any]:
    [posted] = receiver.for_task(task["task_id"])
    view = verify(LOCAL_CALLBACK_SECRET, posted.headers, posted.body)
    assert view["status"] == task["status"] and view["task_id"] == task["task_id"]
    assert posted.headers["webhook-id"] == task["callback"]["webhook_id"]
    assert task["callback"]["attempts"] == 1 and task["callback"]["last_status"] == 204
    return dict(view)


def test_a_succeeded_task_is_posted_once_signed(pipeline: Pipeline, receiver: Receiver) -> None:
    task_id = submit(pipeline, receiver.url)
    task = wait_callback(pipeline, task_id, "delivered")
    view = check_delivery(receiver, task)
    assert view["result"]["text"] and "lease_owner" not in view and "callback" not in view
    assert task["callback"]["delivered_at"] is not None


def test_a_failed_task_is_posted(pipeline: Pipeline, receiver: Receiver) -> None:
    for provider in pipeline.settings.providers:
        pipeline.fault(provider, "down")
    task_id = submit(pipeline, receiver.url)
    task = wait_callback(pipeline, task_id, "delivered")
    assert check_delivery(receiver, task)["status"] == "failed"


def test_a_task_the_provider_refuses_after_acceptance_is_posted(
    pipeline: Pipeline, receiver: Receiver
) -> None:
    pipeline.fault(pipeline.settings.providers[0], "down", status=400)
    task_id = submit(pipeline, receiver.url)
    task = wait_callback(pipeline, task_id, "delivered")
    view = check_delivery(receiver, task)
    assert view["status"] == "failed" and view["error"]["code"] == "invalid_task"


def test_an_expired_task_is_posted(pipeline: Pipeline, receiver: Receiver) -> None:
    """A deadline no provider's retries can meet: every hop is skipped (an attempt `deadline`,
    no call) and the task expires; its callback says so."""
    chain = pipeline.settings.providers
    shortest = min(pipeline.settings.timeout_for(p) for p in chain)
    deadline_s = shortest * pipeline.settings.provider_attempts - 1
    task_id = submit(pipeline, receiver.url, deadline_s=deadline_s)
    task = wait_callback(pipeline, task_id, "delivered")
    assert (task["status"], task["error"]["code"]) == ("failed", "expired")
    assert [a["outcome"] for a in task["attempts"]] == ["deadline"] * len(chain)
    view = check_delivery(receiver, task)
    assert (view["status"], view["error"]["code"]) == ("failed", "expired")
    assert view["deadline_at"] is not None


def test_a_task_published_with_a_callback_and_a_deadline(
    pipeline: Pipeline, receiver: Receiver
) -> None:
    """The Pub/Sub door takes both fields as HTTP does: stored with the task, delivered."""
    task_id = unique("cb-pubsub")
    body = {"task_id": task_id, "task_description": "hello", "callback_url": receiver.url,
            "deadline_s": 90}  # fmt: skip
    pipeline.publish_task(body)
    task = wait_callback(pipeline, task_id, "delivered")
    assert task["request"]["callback_url"] == receiver.url
    assert (task["deadline_at"] - task["created_at"]).total_seconds() == 90
    assert check_delivery(receiver, task)["status"] == "succeeded"


def test_a_bad_callback_published_is_rejected_with_the_field_named(pipeline: Pipeline) -> None:
    task_id = unique("cb-pubsub-bad")
    pipeline.publish_task(
        {"task_id": task_id, "task_description": "hi", "callback_url": "ftp://example.com/x"}
    )
    task = pipeline.wait(task_id)
    assert task["status"] == "rejected" and task["error"]["field"] == "callback_url"
    assert "callback" not in task  # nothing to deliver for a task that never ran


def test_duplicate_completion_events_deliver_once(pipeline: Pipeline, receiver: Receiver) -> None:
    task_id = submit(pipeline, receiver.url)
    task = wait_callback(pipeline, task_id, "delivered")
    for _ in range(3):
        publish_result(pipeline.bus, pipeline.settings, task)
    # The audit subscription sees the events; the callbacks function acks them unsent.
    pipeline.wait_for_log(
        "callbacks", lambda e: e.get("task_id") == task_id and e.get("message") == "callback done"
    )
    assert len(receiver.for_task(task_id)) == 1
    assert pipeline.store.get(task_id)["callback"]["attempts"] == 1  # type: ignore[index]


def test_a_receiver_down_then_up_gets_the_same_webhook_id(pipeline: Pipeline) -> None:
    port = Receiver(0).start()
    port.stop()  # a port that was free a moment ago: nothing listens now
    assert port_free("127.0.0.1", port.port)
    task_id = submit(pipeline, port.url)
    pending = wait_for_attempts(pipeline, task_id, 1)
    assert pending["callback"]["status"] == "pending"
    assert pending["callback"]["error"] == "connection"
    later = Receiver(port.port).start()
    try:
        task = wait_callback(pipeline, task_id, "delivered")
        [posted] = later.for_task(task_id)
        assert posted.headers["webhook-id"] == pending["callback"]["webhook_id"]
        assert task["callback"]["attempts"] >= 2
        verify(LOCAL_CALLBACK_SECRET, posted.headers, posted.body)
    finally:
        later.stop()


def test_a_receiver_400_is_final(pipeline: Pipeline, receiver: Receiver) -> None:
    receiver.answer = 400
    task_id = submit(pipeline, receiver.url)
    task = wait_callback(pipeline, task_id, "failed")
    assert task["callback"]["last_status"] == 400 and task["callback"]["attempts"] == 1
    publish_result(pipeline.bus, pipeline.settings, task)  # a duplicate: still not re-sent
    pipeline.wait_for_log(
        "callbacks", lambda e: e.get("task_id") == task_id and e.get("message") == "callback done"
    )
    assert len(receiver.for_task(task_id)) == 1


def wait_for_attempts(pipeline: Pipeline, task_id: str, attempts: int) -> dict[str, Any]:
    deadline = time.monotonic() + CALLBACK_WAIT_S
    task: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        task = pipeline.store.get(task_id)
        callback = (task or {}).get("callback") or {}
        # The claim counts an attempt before the POST; its outcome (`error`) is written after.
        if task and callback.get("attempts", 0) >= attempts and "error" in callback:
            return task
        time.sleep(0.1)
    raise AssertionError(f"callback of {task_id}: fewer than {attempts} attempts: {task}")
