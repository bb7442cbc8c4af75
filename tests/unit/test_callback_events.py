"""Which completion events the callbacks function acts on: only those `publish_result` marked
as having a callback (production Pub/Sub filters the rest out; the emulator does not)."""

from __future__ import annotations

from typing import Any

from infra.settings import Settings
from shared.callbacks.service import Callbacks
from shared.events import CALLBACK_ATTRIBUTE, PubSubMessage
from shared.firestore.callbacks import ClaimKind
from shared.results import publish_result
from shared.schemas import ResultEvent, TaskStatus

EVENT = ResultEvent(task_id="t1", client_id="c", doc_id="t1", status=TaskStatus.SUCCEEDED)


class UnreadRecords:
    def get(self, doc_id: str) -> Any:
        raise AssertionError(f"read {doc_id}: an event without a callback must not be read")


class RecordingBus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        self.sent.append((topic, attributes))
        return "1"


def test_an_event_without_the_callback_attribute_is_acked_unread() -> None:
    callbacks = Callbacks(Settings(), UnreadRecords())  # type: ignore[arg-type]
    message = PubSubMessage(data=EVENT.model_dump_json().encode(), message_id="m1")
    assert callbacks.process(message) == ClaimKind.NO_CALLBACK.value


def test_the_completion_event_is_marked_only_when_the_task_has_a_callback() -> None:
    bus = RecordingBus()
    task = {"task_id": "t1", "status": "succeeded", "request": {"task_description": "x"}}
    publish_result(bus, Settings(), task)  # type: ignore[arg-type]
    with_callback = task | {"request": {"task_description": "x", "callback_url": "https://a.b"}}
    publish_result(bus, Settings(), with_callback)  # type: ignore[arg-type]
    assert [attributes for _, attributes in bus.sent] == [{}, {CALLBACK_ATTRIBUTE: "1"}]
