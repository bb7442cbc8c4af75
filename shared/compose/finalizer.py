"""The finalizer's wiring: the task store and the bus; no provider, no ingest defences."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.bus import Bus
from shared.compose.pubsub import delivered_message
from shared.finalizer import Finalizer
from shared.settings import task_settings
from shared.store import TaskStore
from shared.structured_logs import configure


@lru_cache(maxsize=1)
def finalizer_service() -> Finalizer:
    configure("finalizer")
    settings = task_settings()
    return Finalizer(settings, TaskStore(settings), Bus(settings))


def handle_finalizer_event(event: Any) -> None:
    finalizer = finalizer_service()
    message = delivered_message(event)
    if message is not None:
        finalizer.process(message)
