"""The callbacks function's wiring: the task's callback records and the settings; no provider,
no ingest defences, no bus (it publishes nothing)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.callbacks.service import Callbacks
from shared.compose.pubsub import delivered_message
from shared.firestore.callbacks import CallbackRecords
from shared.firestore.client import LazyClient
from shared.settings import callback_settings
from shared.structured_logs import configure


@lru_cache(maxsize=1)
def callbacks_service() -> Callbacks:
    configure("callbacks")
    settings = callback_settings()
    records = CallbackRecords(settings, LazyClient(settings), settings.collection_api_keys)
    return Callbacks(settings, records)


def handle_callbacks_event(event: Any) -> None:
    """Returns (ack) when the callback is delivered, failed for good, or not this event's to
    send; raises CallbackRetryError (nack: Pub/Sub redelivers with back-off) otherwise."""
    service = callbacks_service()
    message = delivered_message(event)
    if message is not None:
        service.process(message)
