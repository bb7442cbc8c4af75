"""Verifying a completion callback (Standard Webhooks, standardwebhooks.com; see
docs/contract.md, "Completion callbacks").

    from aiexec.client import webhooks

    task = webhooks.verify(secret, request.headers, request.get_data())  # raw bytes, unparsed

Checks the `webhook-timestamp` against the clock (within `tolerance_s`, against replays),
then one of the `v1` signatures in `webhook-signature` (a space-separated list) in constant
time, and returns the parsed body. Use `webhook-id` as your idempotency key: it is the same on
every retry of a task's callback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from aiexec.client.errors import ClientError

PREFIX = "whsec_"


class WebhookVerificationError(ClientError, ValueError):
    """The request is not a valid callback from this system (signature, timestamp, headers)."""


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> Any:
    """The callback's JSON body, once its signature and timestamp are verified."""
    raw = body.encode() if isinstance(body, str) else body
    lowered = {key.lower(): value for key, value in headers.items()}
    webhook_id = _header(lowered, "webhook-id")
    stamp = _header(lowered, "webhook-timestamp")
    listed = _header(lowered, "webhook-signature")
    try:
        sent_at = int(stamp)
    except ValueError as error:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from error
    clock = time.time() if now is None else now
    if abs(clock - sent_at) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = _sign(_key(secret), f"{webhook_id}.{sent_at}.".encode() + raw)
    for candidate in listed.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return json.loads(raw)
    raise WebhookVerificationError("no webhook-signature matches")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise WebhookVerificationError(f"the {name} header is missing")
    return value


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise WebhookVerificationError("the secret is not whsec_<base64>") from error


def _sign(key: bytes, signed: bytes) -> str:
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
