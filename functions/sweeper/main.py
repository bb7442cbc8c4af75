"""Sweeper: triggered by Cloud Scheduler through `sweep-requests`; re-publishes stuck tasks and
expires overdue ones. Logic: shared/sweeper.py."""

from typing import Any

import functions_framework

from shared.compose.sweeper import handle_sweeper_event


@functions_framework.cloud_event
def sweeper(event: Any) -> None:
    handle_sweeper_event(event)
