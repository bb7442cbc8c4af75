"""Provider worker, deployed once per provider (`PROVIDER=openai|vertex|…`), pushed by
`tasks-<provider>`. Logic: shared/worker.py."""

from typing import Any

import functions_framework

from shared.compose.worker import handle_worker_event


@functions_framework.cloud_event
def worker(event: Any) -> None:
    handle_worker_event(event)
