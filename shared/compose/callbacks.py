"""The callbacks function's wiring: the task's callback records and the settings; no provider,
no ingest defences, no bus (it publishes nothing)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.callbacks.service import Callbacks
from shared.compose.pubsub import delivered_message
from shared.events import CALLBACK_ATTRIBUTE
from shared.firestore.callbacks import CallbackRecords
from shared.firestore.client import LazyClient
from shared.settings import callback_settings
from shared.tracing import entry_span, set_attributes, start_function


@lru_cache(maxsize=1)
def callbacks_service() -> Callbacks:
    settings = callback_settings()
    start_function("callbacks", settings, settings.project_id)
    records = CallbackRecords(settings, LazyClient(settings), settings.collection_api_keys)
    return Callbacks(settings, records)


def handle_callbacks_event(event: Any) -> None:
    """Returns (ack) when the callback is delivered, failed for good, or not this event's to
    send; raises CallbackRetryError (nack: Pub/Sub redelivers with back-off) otherwise."""
    service = callbacks_service()
    message = delivered_message(event)
    if message is None:
        return
    if message.attributes.get(CALLBACK_ATTRIBUTE) != "1":
        service.process(message)  # acked unread: no span for an event without a callback
        return
    with entry_span("callbacks", message.attributes, message_id=message.message_id):
        set_attributes(result=service.process(message))
