"""The sweeper's wiring: the task store and the bus; no provider, no ingest defences."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.bus import Bus
from shared.settings import task_settings
from shared.store import TaskStore
from shared.sweeper import Sweeper
from shared.tracing import entry_span, start_function


@lru_cache(maxsize=1)
def sweeper_service() -> Sweeper:
    settings = task_settings()
    start_function("sweeper", settings, settings.project_id)
    return Sweeper(settings, TaskStore(settings), Bus(settings))


def handle_sweeper_event(event: Any) -> None:
    """Any message on `sweep-requests` triggers one sweep; its content does not matter."""
    del event  # the trigger carries nothing the sweep needs
    service = sweeper_service()
    # A trace of its own; each task it re-publishes continues that task's trace (shared/sweeper.py).
    with entry_span("sweeper"):
        service.sweep()
