"""The poller's wiring (issue 16), pushed by its subscription of `batch-requests`: the same
parts as the batcher's (shared/compose/batcher.py)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from shared.batch.poller import Poller
from shared.compose.batcher import lane_parts
from shared.structured_logs import configure, log

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def poller_service() -> Poller:
    configure("poller")
    return Poller(lane_parts())


def handle_poller_event(event: Any) -> None:
    """Any message on `batch-requests` triggers one poll of the open jobs."""
    del event
    run = poller_service().run()
    log(logger, logging.INFO, "poller run", polled=len(run.polled), finished=run.finished,
        **dict(run.counts))  # fmt: skip
