"""Batcher (issue 16): pushed by `batch-requests` (Cloud Scheduler; `aiexec batch flush`);
gathers queued batch tasks into provider batch jobs. Logic: shared/batch/batcher.py."""

from typing import Any

import functions_framework

from shared.compose.batcher import handle_batcher_event


@functions_framework.cloud_event
def batcher(event: Any) -> None:
    handle_batcher_event(event)
