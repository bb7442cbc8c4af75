"""A provider worker's wiring (one deployment per provider, `PROVIDER=<name>`): the task store,
the bus, its provider's adapter and that provider's circuit breaker."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from shared.attachments.resolve import FileReadingProvider
from shared.bus import Bus
from shared.circuit import CircuitBreaker
from shared.compose.pubsub import delivered_message
from shared.errors import AIExecError
from shared.providers.registry import SPECS, get_provider
from shared.schemas import TaskMessage
from shared.settings import task_settings
from shared.store import TaskStore
from shared.structured_logs import log, task_context
from shared.tracing import entry_span, set_attributes, start_function
from shared.worker import Worker

logger = logging.getLogger(__name__)


class ProviderNotSetError(AIExecError, RuntimeError):
    """A worker deployment without PROVIDER: it cannot know which provider it serves."""


@lru_cache(maxsize=1)
def worker_service() -> Worker:
    settings = task_settings()
    if not settings.provider:
        raise ProviderNotSetError(
            "a worker needs PROVIDER (or AIEXEC_PROVIDER) set to its provider"
        )
    start_function(f"worker-{settings.provider}", settings, settings.project_id)
    store = TaskStore(settings)
    breaker = CircuitBreaker(settings, lambda: store.client, settings.provider)
    spec = SPECS.get(settings.provider)
    native = spec.native_file_schemes if spec is not None else ()
    provider = FileReadingProvider(get_provider(settings.provider, settings), settings, native)
    return Worker(settings, store, Bus(settings), provider, breaker)


def handle_worker_event(event: Any) -> None:
    worker = worker_service()
    message = delivered_message(event)
    if message is None:
        return
    try:
        task_message = TaskMessage.model_validate_json(message.data)
    except ValidationError as error:
        log(
            logger,
            logging.ERROR,
            "malformed task message; acked",
            message_id=message.message_id,
            reason=str(error.errors(include_url=False)[0].get("msg")),
        )
        return
    # One span per hop, in the task's trace (the publisher's `traceparent`).
    hop = entry_span(
        f"worker-{worker.provider.name}",
        message.attributes,
        task_id=task_message.task_id,
        hop=task_message.hop,
        provider=worker.provider.name,
        message_id=message.message_id,
        reason=task_message.reason,
    )
    with hop, task_context(task_message.task_id):
        set_attributes(result=worker.process(task_message, message.dead_letter_source))
