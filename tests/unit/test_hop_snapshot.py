"""The first hop's task snapshot (shared/hop_snapshot.py): what it carries, what it refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from google.api_core.datetime_helpers import DatetimeWithNanoseconds

from shared import hop_snapshot
from shared.fallback import hand_over
from shared.firestore.conditional import version_of, version_text
from shared.schemas import TaskMessage

NOW = datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC)


def task() -> dict[str, object]:
    return {
        "task_id": "t1",
        "status": "queued",
        "request": {"messages": [{"role": "user", "content": "hi"}], "max_output_tokens": 5},
        "chain": ["openai", "vertex"],
        "hop": 0,
        "attempts": [],
        "usage": {"total_tokens": 0, "cost_usd": 0.0},
        "result": None,
        "created_at": NOW,
        "deadline_at": NOW + timedelta(hours=1),
        "flag": True,
    }


def test_a_task_survives_the_message_as_it_was_written() -> None:
    encoded = hop_snapshot.encode(task())
    assert encoded is not None
    through_the_bus = json.loads(json.dumps(encoded))
    assert hop_snapshot.decode(through_the_bus) == task()
    assert hop_snapshot.decode(through_the_bus)["created_at"].tzinfo is not None


def test_values_it_does_not_carry_mean_no_snapshot() -> None:
    assert hop_snapshot.encode(task() | {"blob": b"\x00"}) is None
    assert hop_snapshot.encode(task() | {"naive": datetime(2026, 1, 1)}) is None
    assert hop_snapshot.encode(task() | {"odd": {"$ts": "x"}}) is None


def test_the_update_time_keeps_its_nanoseconds() -> None:
    stamp = DatetimeWithNanoseconds(2026, 11, 30, 8, 0, 0, nanosecond=123456789, tzinfo=UTC)  # type: ignore[no-untyped-call]
    text = version_text(stamp)
    assert text == "2026-11-30T08:00:00.123456789Z"
    assert version_of(text) == stamp
    assert version_of(version_text(NOW)) == NOW


def test_a_hand_over_drops_the_snapshot_and_old_messages_still_read() -> None:
    first = TaskMessage(
        task_id="t1", chain=["openai", "vertex"], task={"status": "queued"}, task_version="v"
    )
    onward = hand_over(first, 1, "provider failed")
    assert (onward.hop, onward.task, onward.task_version) == (1, None, None)
    older = TaskMessage.model_validate_json('{"v": 1, "task_id": "t1", "chain": ["openai"]}')
    assert older.task is None and older.task_version is None


def test_the_worker_leases_on_the_carried_task_and_reads_on_a_bad_one() -> None:
    from infra.settings import Settings
    from shared.worker import Worker
    from tests.unit.worker_fakes import OK, FakeBus, FakeProvider, FakeStore

    def deliver(message: TaskMessage) -> FakeStore:
        store = FakeStore()
        worker = Worker(Settings(), store, FakeBus(), FakeProvider([OK]))  # type: ignore[arg-type]
        assert worker.process(message) == "succeeded"
        return store

    encoded = hop_snapshot.encode(task())
    version = "2026-11-30T08:00:00.123456789Z"
    plain = TaskMessage(task_id="t1", chain=["openai", "vertex"])
    carrying = plain.model_copy(update={"task": encoded, "task_version": version})
    assert deliver(carrying).known == (task(), version_of(version))
    assert deliver(plain).known is None
    garbled = plain.model_copy(update={"task": encoded, "task_version": "not a time"})
    assert deliver(garbled).known is None
