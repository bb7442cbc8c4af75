"""The finalizer's wiring: the task store and the bus; no provider, no ingest defences."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.bus import Bus
from shared.compose.pubsub import delivered_message
from shared.finalizer import Finalizer
from shared.settings import task_settings
from shared.store import TaskStore
from shared.tracing import entry_span, set_attributes, start_function


@lru_cache(maxsize=1)
def finalizer_service() -> Finalizer:
    settings = task_settings()
    start_function("finalizer", settings, settings.project_id)
    return Finalizer(settings, TaskStore(settings), Bus(settings))


def handle_finalizer_event(event: Any) -> None:
    finalizer = finalizer_service()
    message = delivered_message(event)
    if message is not None:
        with entry_span("finalizer", message.attributes, message_id=message.message_id):
            set_attributes(result=finalizer.process(message))
