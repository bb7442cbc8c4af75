"""The ack policy of every Pub/Sub-triggered function.

A handler that returns normally acks the Pub/Sub delivery; one that raises nacks it. So: bad
*content* is recorded and returns (no poison loop); *infrastructure* failures raise (retry).
"""

from __future__ import annotations

import logging
from typing import Any

from shared.events import MalformedEnvelopeError, PubSubMessage, decode
from shared.structured_logs import log

logger = logging.getLogger(__name__)


def delivered_message(event: Any) -> PubSubMessage | None:
    """The Pub/Sub message of a push delivery; None (logged, then acked) when it is not one."""
    try:
        return decode(event.data)
    except MalformedEnvelopeError as error:
        log(logger, logging.ERROR, "not a Pub/Sub delivery; acked", reason=str(error))
        return None
