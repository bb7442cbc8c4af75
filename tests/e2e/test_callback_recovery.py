"""A completion event that never reached the callbacks function (publishing it is best effort)
does not lose the callback: the sweeper sends the event again, and the callback is delivered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiexec.cli.webhook_receiver import Receiver
from aiexec.client.webhooks import verify
from infra.localstack.envs import LOCAL_CALLBACK_SECRET
from shared.sweeper import Sweeper
from tests.e2e.conftest import Pipeline, unique
from tests.e2e.test_callbacks import wait_callback


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(0).start()
    yield started
    started.stop()


def test_the_sweeper_resends_a_lost_completion_event(
    pipeline: Pipeline, receiver: Receiver
) -> None:
    task_id = unique("cb-lost")
    body = {"task_id": task_id, "task_description": "hello", "callback_url": receiver.url}
    assert pipeline.post("/tasks", body).status_code == 202
    first = wait_callback(pipeline, task_id, "delivered")
    # As if its completion event had been lost: the callback never tried. A sweeper that
    # waits a millisecond instead of minutes, so the task's own completion time is kept.
    pipeline.store.client.collection(pipeline.settings.collection_tasks).document(task_id).update(
        {"callback": {"status": "pending", "attempts": 0}}
    )
    impatient = pipeline.settings.model_copy(update={"callback_requeue_after_s": 0.001})
    sweeper = Sweeper(impatient, pipeline.store, pipeline.bus)

    report = sweeper.sweep()

    assert task_id in report.callbacks
    again = wait_callback(pipeline, task_id, "delivered")
    assert again["callback"]["attempts"] == 1
    posts = receiver.for_task(task_id)
    assert len(posts) == 2  # the first delivery, then the one the sweeper's event caused
    for posted in posts:
        assert verify(LOCAL_CALLBACK_SECRET, posted.headers, posted.body)["task_id"] == task_id
    # The same completion, so the same webhook-id: a receiver deduplicating by it sees one.
    assert {p.headers["webhook-id"] for p in posts} == {first["callback"]["webhook_id"]}
    assert task_id not in sweeper.sweep().callbacks  # delivered: nothing to send again
