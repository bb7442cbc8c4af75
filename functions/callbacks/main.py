"""Callbacks: subscriber of `task-results`; POSTs a finished task to its `callback_url`, signed
(Standard Webhooks). Logic: shared/callbacks/."""

from typing import Any

import functions_framework

from shared.compose.callbacks import handle_callbacks_event


@functions_framework.cloud_event
def callbacks(event: Any) -> None:
    handle_callbacks_event(event)
