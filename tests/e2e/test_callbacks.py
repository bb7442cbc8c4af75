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
from shared.sweeper import Sweeper
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
    for provider in pipeline.settings.providers:
        pipeline.fault(provider, "down")
    task_id = submit(pipeline, receiver.url, deadline_s=1)
    # Expire it as the sweeper will once the deadline passed (its own clock: no sleep).
    created = pipeline.store.get(task_id)
    assert created is not None
    report = Sweeper(pipeline.settings, pipeline.store, pipeline.bus).sweep(created["deadline_at"])
    task = wait_callback(pipeline, task_id, "delivered")
    if task_id in report.expired:
        assert check_delivery(receiver, task)["error"]["code"] == "expired"
    else:  # every provider failed it first: still one delivery
        check_delivery(receiver, task)


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
        if task and (task.get("callback") or {}).get("attempts", 0) >= attempts:
            return task
        time.sleep(0.1)
    raise AssertionError(f"callback of {task_id}: fewer than {attempts} attempts: {task}")
