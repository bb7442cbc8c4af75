"""The reply type every API dialect produces, and small helpers for reading request bodies."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from shared.errors import AIExecError


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is instead of `body` (a file's content), octet-stream


class BadRequest(AIExecError):  # noqa: N818 - mirrors the HTTP status name on purpose
    """The request body does not follow the API; rendered as the dialect's 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def json_body(raw: bytes) -> Any:
    """A request's JSON body; None for an empty or unreadable one (the caller names the field)."""
    try:
        return json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def request_id(*parts: str) -> str:
    """A stable id for a response, so identical requests give identical bodies."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def optional_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"'{name}' must be a positive integer", name)
    return value


def retry_after_header(seconds: float | None, *, with_ms: bool) -> dict[str, str]:
    if seconds is None:
        return {}
    if not with_ms:
        return {"Retry-After": str(math.ceil(seconds))}
    # Retry-After only has whole seconds (rounded up: never invite an early retry); clients that
    # read OpenAI's retry-after-ms variant get the exact value.
    return {"Retry-After": str(math.ceil(seconds)), "retry-after-ms": str(round(seconds * 1000))}
