"""Finalizer: subscriber of `tasks-dead`; fails what no provider could run. Logic:
shared/finalizer.py."""

from typing import Any

import functions_framework

from shared.compose.finalizer import handle_finalizer_event


@functions_framework.cloud_event
def finalizer(event: Any) -> None:
    handle_finalizer_event(event)
