"""The batcher's wiring (issue 16), pushed by its subscription of `batch-requests`: the jobs'
data layer, the bus and the providers' batch adapters (an adapter, and its SDK, loaded only
when a task of that provider is batched). The poller (shared/compose/poller.py) shares
`lane_parts`."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from shared.batch.batcher import Batcher
from shared.batch.outcomes import LaneExits, LaneParts
from shared.bus import Bus
from shared.firestore.batches import BatchJobs
from shared.providers.registry import get_batch_provider
from shared.settings import task_settings
from shared.structured_logs import log
from shared.tracing import entry_span, start_function

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def lane_parts() -> LaneParts:
    settings = task_settings()
    jobs = BatchJobs(settings)
    exits = LaneExits(settings, jobs, Bus(settings))
    return LaneParts(settings, jobs, exits, lambda name: get_batch_provider(name, settings))


@lru_cache(maxsize=1)
def batcher_service() -> Batcher:
    settings = task_settings()
    start_function("batcher", settings, settings.project_id)
    return Batcher(lane_parts())


def handle_batcher_event(event: Any) -> None:
    """Any message on `batch-requests` triggers one batcher run; its content does not matter."""
    del event
    service = batcher_service()
    # A trace of its own, exported before the delivery returns; work on a task joins the task's
    # trace with shared.tracing.task_span(task, name) (its stored trace_context).
    with entry_span("batcher"):
        run = service.run()
        log(logger, logging.INFO, "batcher run", submitted=run.submitted,
            reconciled=run.reconciled, online=len(run.online))  # fmt: skip
