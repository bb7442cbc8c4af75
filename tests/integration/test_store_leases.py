"""The task store's lease and finish protocol on the real Firestore emulator.

`begin` and the common `finish` are writes conditioned on the task's update time rather than
transactions; these tests hold the guarantees that protocol must keep: one owner at a time,
a finish that lost its lease never overwrites the task yet still records its calls, and every
call gets its own usage document.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.settings import Settings
from shared import hop_snapshot, opcount
from shared.firestore.conditional import version_of, version_text
from shared.providers.base import Completion
from shared.schemas import TaskStatus
from shared.store import TaskStore
from shared.task_leases import Begin, BeginKind, Outcome
from shared.usage import CallRecord

_ids = itertools.count(1)
RESULT = {"text": "t", "provider": "openai", "model": "gpt-6.1-terra"}
SUCCEEDED = Outcome(TaskStatus.SUCCEEDED, result=RESULT)


@pytest.fixture
def store(stack: Any) -> TaskStore:
    """A store on the session's emulator with collections of this test's own."""
    suffix = f"{time.time_ns()}-{next(_ids)}"
    settings: Settings = stack.settings.model_copy(
        update={
            "collection_tasks": f"tasks-{suffix}",
            "collection_usage": f"usage-{suffix}",
            "collection_rollups": f"rollups-{suffix}",
        }
    )
    return TaskStore(settings)


def new_task(store: TaskStore) -> str:
    task_id = f"lease-{next(_ids)}"
    store.commit_creation(
        store.creation(task_id, "c", {"task_description": "x"}, ["openai", "vertex"])
    )
    return task_id


def one_call() -> list[CallRecord]:
    now = datetime.now(UTC)
    completion = Completion("t", "gpt-6.1-terra", "stop", 10, 5, 15)
    return [CallRecord.success("openai", "gpt-6.1-terra", now, now, completion)]


def usage_ids(store: TaskStore, task_id: str) -> list[str]:
    docs = store.client.collection(store.settings.collection_usage).stream()
    return sorted(doc.id for doc in docs if doc.id.startswith(f"{task_id}-"))


def test_concurrent_deliveries_of_one_task_start_it_exactly_once(store: TaskStore) -> None:
    task_id = new_task(store)
    contenders = 8
    barrier = threading.Barrier(contenders)
    kinds: list[BeginKind] = []

    def deliver(owner: str) -> None:
        barrier.wait()
        kinds.append(store.begin(task_id, 0, "openai", owner).kind)

    threads = [threading.Thread(target=deliver, args=(f"d{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(kinds) == sorted([BeginKind.START] + [BeginKind.LEASED] * (contenders - 1))
    task = store.get(task_id)
    assert task is not None
    assert task["status"] == TaskStatus.RUNNING
    assert task["lease_owner"] in {f"d{i}" for i in range(contenders)}


def test_a_finish_with_its_lease_applies_the_outcome_and_records_each_call(
    store: TaskStore,
) -> None:
    task_id = new_task(store)
    lease = store.begin(task_id, 0, "openai", "w1")
    assert lease.kind is BeginKind.START
    assert lease.version is not None

    written = store.finish(task_id, "w1", one_call(), SUCCEEDED, lease=lease)

    assert written is not None
    task = store.get(task_id)
    assert task is not None
    assert (task["status"], task["result"], task["lease_owner"]) == ("succeeded", RESULT, None)
    assert [a["usage_ids"] for a in task["attempts"]] == [[f"{task_id}-1"]]
    assert usage_ids(store, task_id) == [f"{task_id}-1"]
    assert store.begin(task_id, 0, "openai", "late-duplicate").kind is BeginKind.TERMINAL


def test_a_finish_after_the_task_was_failed_records_its_calls_but_not_its_outcome(
    store: TaskStore,
) -> None:
    task_id = new_task(store)
    lease = store.begin(task_id, 0, "openai", "w1")
    failed = store.fail(task_id, {"code": "expired", "message": "deadline passed"})
    assert failed is not None

    written = store.finish(task_id, "w1", one_call(), SUCCEEDED, lease=lease)

    assert written is None  # the lease was lost: the finalizer's verdict stands
    task = store.get(task_id)
    assert task is not None
    assert (task["status"], task["result"], task["error"]["code"]) == ("failed", None, "expired")
    assert usage_ids(store, task_id) == [f"{task_id}-1"]  # the call was made: it is recorded


def test_a_late_finish_after_a_takeover_numbers_its_calls_after_the_new_owners(
    store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = new_task(store)
    slow = store.begin(task_id, 0, "openai", "slow")
    expired = datetime.now(UTC) + timedelta(seconds=store.settings.lease_seconds("openai") + 1)
    monkeypatch.setattr(store, "_now", lambda: expired)
    takeover = store.begin(task_id, 0, "openai", "fast")
    assert takeover.kind is BeginKind.START
    assert store.finish(task_id, "fast", one_call(), SUCCEEDED, lease=takeover) is not None

    late = store.finish(task_id, "slow", one_call(), SUCCEEDED, lease=slow)

    assert late is None
    task = store.get(task_id)
    assert task is not None
    assert task["status"] == "succeeded"
    assert usage_ids(store, task_id) == [f"{task_id}-1", f"{task_id}-2"]
    assert task["usage"]["total_tokens"] == 2 * 15  # both calls, each counted once


def test_a_repeated_begin_of_the_same_delivery_still_owns_the_task(store: TaskStore) -> None:
    """A lease write that landed although its call reported an error is retried by the client
    library; the retry must find the task already ours, not leased to a stranger."""
    task_id = new_task(store)
    first = store.begin(task_id, 0, "openai", "w1")
    again = store.begin(task_id, 0, "openai", "w1")
    assert (first.kind, again.kind) == (BeginKind.START, BeginKind.START)
    assert store.finish(task_id, "w1", one_call(), SUCCEEDED, lease=again) is not None
    assert usage_ids(store, task_id) == [f"{task_id}-1"]


def test_a_finish_without_a_lease_reads_the_task_and_decides(store: TaskStore) -> None:
    task_id = new_task(store)
    store.begin(task_id, 0, "openai", "w1")
    written = store.finish(task_id, "w1", one_call(), SUCCEEDED, lease=Begin(BeginKind.START))
    assert written is not None
    assert written["status"] == "succeeded"


def test_a_delivery_reads_the_task_once_and_commits_twice(store: TaskStore, tmp_path: Any) -> None:
    """The worker's share of a task's Firestore operations, counted at the client's API layer:
    one read (the lease), then the lease write and one commit of task, usage and rollup."""
    counting = store.settings.model_copy(update={"count_operations_dir": str(tmp_path)})
    counted = TaskStore(counting)
    task_id = new_task(counted)
    before = opcount.snapshot()

    lease = counted.begin(task_id, 0, "openai", "w1")
    assert counted.finish(task_id, "w1", one_call(), SUCCEEDED, lease=lease) is not None

    after = opcount.snapshot()
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    assert delta["firestore.reads"] == 1
    assert delta["firestore.commits"] == 2
    assert delta["firestore.writes"] == 4  # lease; task, usage, rollup


def skipped_hop(task: dict[str, Any]) -> list[CallRecord]:
    now = datetime.now(UTC)
    error = {"code": "circuit_open", "message": "openai circuit is open; not called"}
    return [
        CallRecord(
            "openai", "gpt-6.1-terra", now, now, "circuit_open", error, called_provider=False
        )
    ]


def test_passing_a_task_on_moves_it_to_the_next_hop_without_a_lease(
    store: TaskStore, tmp_path: Any
) -> None:
    counting = store.settings.model_copy(update={"count_operations_dir": str(tmp_path)})
    counted = TaskStore(counting)
    task_id = new_task(counted)
    before = opcount.snapshot()

    passed = counted.pass_on(task_id, 0, skipped_hop)

    after = opcount.snapshot()
    assert passed.kind is BeginKind.START
    task = counted.get(task_id)
    assert task is not None
    assert (task["status"], task["hop"], task["lease_owner"]) == ("queued", 1, None)
    assert [(a["provider"], a["outcome"]) for a in task["attempts"]] == [("openai", "circuit_open")]
    assert usage_ids(counted, task_id) == []  # no call, no usage document
    assert after["firestore.reads"] - before.get("firestore.reads", 0) == 1
    assert after["firestore.writes"] - before.get("firestore.writes", 0) == 1
    assert counted.begin(task_id, 0, "openai", "late").kind is BeginKind.STALE


def test_passing_on_refuses_a_task_that_is_not_this_deliverys_to_move(store: TaskStore) -> None:
    leased = new_task(store)
    store.begin(leased, 0, "openai", "w1")
    assert store.pass_on(leased, 0, skipped_hop).kind is BeginKind.LEASED
    finished = new_task(store)
    store.finish(
        finished, "w0", one_call(), SUCCEEDED, lease=store.begin(finished, 0, "openai", "w0")
    )
    assert store.pass_on(finished, 0, skipped_hop).kind is BeginKind.TERMINAL
    assert store.pass_on("no-such-task", 0, skipped_hop).kind is BeginKind.MISSING
    task = store.get(leased)
    assert task is not None
    assert (task["status"], task["hop"], task["attempts"]) == ("running", 0, [])


def created_with_version(store: TaskStore) -> tuple[str, dict[str, Any], Any]:
    """A task created as ingest creates it: the document and its create's update time."""
    task_id = f"lease-{next(_ids)}"
    creation = store.creation(task_id, "c", {"task_description": "x"}, ["openai", "vertex"])
    store.commit_creation(creation)
    assert creation.update_time is not None
    return task_id, creation.doc, creation.update_time


def carried(doc: dict[str, Any], version: Any) -> tuple[dict[str, Any], Any]:
    """What the worker gets back from the first hop's message (through the codec)."""
    encoded = hop_snapshot.encode(doc)
    assert encoded is not None
    text = version_text(version)
    return hop_snapshot.decode(encoded), version_of(text)


def test_a_lease_on_the_task_the_message_carried_reads_nothing(
    store: TaskStore, tmp_path: Any
) -> None:
    counting = store.settings.model_copy(update={"count_operations_dir": str(tmp_path)})
    counted = TaskStore(counting)
    task_id, doc, version = created_with_version(counted)
    before = opcount.snapshot()

    lease = counted.begin(task_id, 0, "openai", "w1", known=carried(doc, version))
    assert lease.kind is BeginKind.START
    assert counted.finish(task_id, "w1", one_call(), SUCCEEDED, lease=lease) is not None

    after = opcount.snapshot()
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    assert delta["firestore.reads"] == 0
    assert delta["firestore.writes"] == 4  # lease; task, usage, rollup
    task = counted.get(task_id)
    assert task is not None
    assert (task["status"], task["request"], task["chain"]) == (
        "succeeded",
        {"task_description": "x"},
        ["openai", "vertex"],
    )


def test_a_stale_carried_task_is_read_and_decided_as_it_is_now(store: TaskStore) -> None:
    """The message's snapshot is out of date once anyone wrote the task: the condition fails,
    nothing of the stale lease lands, and the delivery decides on the document."""
    task_id, doc, version = created_with_version(store)
    first = store.begin(task_id, 0, "openai", "w1", known=carried(doc, version))
    assert first.kind is BeginKind.START

    duplicate = store.begin(task_id, 0, "openai", "w2", known=carried(doc, version))

    assert duplicate.kind is BeginKind.LEASED  # w1 holds it; the stale snapshot said queued
    task = store.get(task_id)
    assert task is not None
    assert task["lease_owner"] == "w1"
    assert store.finish(task_id, "w1", one_call(), SUCCEEDED, lease=first) is not None
    late = store.begin(task_id, 0, "openai", "w3", known=carried(doc, version))
    assert late.kind is BeginKind.TERMINAL


def test_ingest_sends_the_first_hop_the_task_it_created_and_that_writes_version(
    store: TaskStore,
) -> None:
    from shared.ingest import Ingest
    from shared.schemas import TaskMessage, TaskRequest

    published: list[bytes] = []

    class CapturingBus:
        def publish(self, topic: str, data: bytes, **attributes: str) -> str:
            published.append(data)
            return "1"

    ingest = Ingest(store.settings, store, CapturingBus())  # type: ignore[arg-type]
    task_id = f"lease-{next(_ids)}"
    request = TaskRequest.model_validate({"task_description": "hello", "task_id": task_id})
    assert ingest.submit(request, "c").created

    message = TaskMessage.model_validate_json(published[0])
    assert message.task is not None and message.task_version is not None
    snap = store.client.collection(store.settings.collection_tasks).document(task_id).get()
    assert version_of(message.task_version) == snap.update_time
    assert hop_snapshot.decode(message.task) == snap.to_dict()

    # A task too large to carry goes as a pointer: the worker reads it.
    big = "x" * hop_snapshot.MAX_SNAPSHOT_BYTES
    large = TaskRequest.model_validate({"task_description": big, "task_id": f"{task_id}-big"})
    assert ingest.submit(large, "c").created
    pointer = TaskMessage.model_validate_json(published[1])
    assert (pointer.task_id, pointer.task, pointer.task_version) == (f"{task_id}-big", None, None)
    assert len(published[1]) < 1024
