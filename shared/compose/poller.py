"""The poller's wiring (issue 16), pushed by its subscription of `batch-requests`: the same
parts as the batcher's (shared/compose/batcher.py)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from shared.batch.poller import Poller
from shared.compose.batcher import lane_parts
from shared.settings import task_settings
from shared.structured_logs import log
from shared.tracing import entry_span, start_function

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def poller_service() -> Poller:
    settings = task_settings()
    start_function("poller", settings, settings.project_id)
    return Poller(lane_parts())


def handle_poller_event(event: Any) -> None:
    """Any message on `batch-requests` triggers one poll of the open jobs."""
    del event
    service = poller_service()
    with entry_span("poller"):  # see shared/compose/batcher.py
        run = service.run()
        log(logger, logging.INFO, "poller run", polled=len(run.polled), finished=run.finished,
            **dict(run.counts))  # fmt: skip
