"""Standard Webhooks signatures (standardwebhooks.com, spec/standard-webhooks.md, read
2026-11-30): `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the
secret's bytes as the key, the secret shown as `whsec_<base64>`, at least 24 bytes.

The id and timestamp are ours, never a client's, and contain no `.` (the spec's warning).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from shared.errors import AIExecError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


class BadSecretError(AIExecError, ValueError):
    """Not a `whsec_<base64>` secret of 24-64 bytes."""


def new_secret() -> str:
    """A fresh signing secret (32 random bytes), as shown to its owner once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def decode_secret(secret: str) -> bytes:
    """The key bytes of `whsec_<base64>` (the prefix is optional, as the spec's libraries do)."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadSecretError("the signing secret is not whsec_<base64>") from error
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise BadSecretError(
            f"the signing secret must be {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes"
        )
    return key


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value (one `v1` signature)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one delivery attempt."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
    }
