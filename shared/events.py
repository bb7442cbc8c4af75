"""Unwrapping Pub/Sub push deliveries (as CloudEvents from functions-framework)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from shared.errors import AIExecError

DEAD_LETTER_SOURCE_ATTR = "CloudPubSubDeadLetterSourceSubscription"
DEAD_LETTER_COUNT_ATTR = "CloudPubSubDeadLetterSourceDeliveryCount"
# Set on the completion event of a task that has a `callback_url`. The callbacks function's
# subscription filters on it in production, so a task without a callback costs that function
# nothing; the Pub/Sub emulator ignores filters, and the function acks such an event unread.
CALLBACK_ATTRIBUTE = "callback"
CALLBACK_FILTER = f'attributes.{CALLBACK_ATTRIBUTE} = "1"'


class MalformedEnvelopeError(AIExecError, ValueError):
    """The delivery is not a Pub/Sub message at all (not the message *content*)."""


@dataclass(frozen=True)
class PubSubMessage:
    data: bytes
    message_id: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def dead_letter_source(self) -> str | None:
        return self.attributes.get(DEAD_LETTER_SOURCE_ATTR)


def source_topic(event: Any) -> str | None:
    """The topic a push delivery came from, or None if the delivery does not say.

    functions-framework takes it from the push URL's path (`.../projects/P/topics/T`, as set
    on the push subscription by the deployer, never by the publisher) into the CloudEvent's
    `source`; an endpoint without that path gives none.
    """
    try:
        source = str(event["source"] or "")
    except (KeyError, TypeError, AttributeError):
        return None
    _, found, topic = source.rpartition("/topics/")
    return (topic or None) if found else None


def topic_of_subscription(subscription: str | None) -> str | None:
    """The topic an ingest push subscription reads (`projects/P/subscriptions/{topic}-ingest`,
    infra/topology.py), from a dead-lettered message's source subscription."""
    name = (subscription or "").rpartition("/")[2]
    return name.removesuffix("-ingest") if name.endswith("-ingest") else None


def decode(event_data: Any) -> PubSubMessage:
    """The message inside a Pub/Sub CloudEvent's `data` (`{"message": {...}}`)."""
    if not isinstance(event_data, dict) or not isinstance(event_data.get("message"), dict):
        raise MalformedEnvelopeError("the event carries no Pub/Sub message")
    message = event_data["message"]
    raw = message.get("data") or ""
    try:
        data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
    except (binascii.Error, ValueError) as exc:
        raise MalformedEnvelopeError("message data is not valid base64") from exc
    attributes = message.get("attributes") or {}
    return PubSubMessage(
        data=data,
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        attributes={str(k): str(v) for k, v in attributes.items()},
    )
