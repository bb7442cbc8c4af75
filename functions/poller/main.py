"""Poller (issue 16): pushed by `batch-requests`; reads open batch jobs and finishes their
tasks, or moves them to the online lane. Logic: shared/batch/poller.py."""

from typing import Any

import functions_framework

from shared.compose.poller import handle_poller_event


@functions_framework.cloud_event
def poller(event: Any) -> None:
    handle_poller_event(event)
