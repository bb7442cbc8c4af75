"""The sweeper's wiring: the task store and the bus; no provider, no ingest defences."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.bus import Bus
from shared.settings import task_settings
from shared.store import TaskStore
from shared.structured_logs import configure
from shared.sweeper import Sweeper


@lru_cache(maxsize=1)
def sweeper_service() -> Sweeper:
    configure("sweeper")
    settings = task_settings()
    return Sweeper(settings, TaskStore(settings), Bus(settings))


def handle_sweeper_event(event: Any) -> None:
    """Any message on `sweep-requests` triggers one sweep; its content does not matter."""
    del event  # the trigger carries nothing the sweep needs
    sweeper_service().sweep()
