"""Shared classification of provider failures onto the three error kinds of `base.py`.

Both adapters translate their SDK's exception into (HTTP status, provider error code, message,
headers) and let `error_for_status` decide the kind, so the retry/hand-over policy is one table.

The table also decides whose fault a failure is, by class: `TransientError` and
`ProviderFatalError` (429, 5xx, timeouts, connection errors, 401/403, an exhausted quota) are the
provider's and count for its circuit breaker; `RequestRefusedError` (a model the provider does
not have, any other 404, a context too long, blocked content, an unexpected 4xx) and
`InvalidTaskError` (400, 422) are the request's and never do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from shared.providers.base import (
    InvalidTaskError,
    ProviderError,
    ProviderFatalError,
    RequestRefusedError,
    TransientError,
)

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
INSUFFICIENT_QUOTA = "insufficient_quota"
# The provider says the model does not exist (never did, or was retired): OpenAI's 404
# `model_not_found`, Vertex AI's 404 NOT_FOUND for a publisher model. Refused for this request's
# model, not a sign of the provider's health; the worker tries the fallback model first.
MODEL_UNAVAILABLE = "model_unavailable"
BLOCKED = "blocked"  # the provider's safety filters refused the prompt

# status -> (error class, short code); statuses not listed fall back by class (4xx/5xx).
_STATUS_TABLE: dict[int, tuple[type[ProviderError], str]] = {
    400: (InvalidTaskError, "invalid_request"),
    401: (ProviderFatalError, "auth"),
    402: (ProviderFatalError, "quota"),  # billing: the account's, whatever the request
    403: (ProviderFatalError, "auth"),
    # A 404 the provider does not attribute to the model. The request can cause one (Vertex AI
    # puts the model in the URL: `"nobody/x"` is another publisher's path), so it is refused,
    # not counted; a wrong endpoint in the configuration then costs one call per task.
    404: (RequestRefusedError, "not_found"),
    408: (TransientError, "timeout"),
    409: (TransientError, "conflict"),
    # Too large for this provider's limits; another provider may accept it.
    413: (RequestRefusedError, CONTEXT_LENGTH_EXCEEDED),
    422: (InvalidTaskError, "invalid_request"),
    429: (TransientError, "rate_limited"),
    504: (TransientError, "timeout"),
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None  # HTTP dates are always GMT; a naive one is not an HTTP date
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def retry_after_from_headers(headers: Mapping[str, str] | None) -> float | None:
    """Retry-After from response headers, preferring OpenAI's millisecond variant."""
    if headers is None:
        return None
    # httpx headers are case-insensitive, but a plain dict from elsewhere may not be.
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if value >= 0 and math.isfinite(value):
            return value
    return parse_retry_after(lowered.get("retry-after"))


def error_for_status(
    status: int,
    message: str,
    *,
    provider_code: str | None = None,
    retry_after_s: float | None = None,
) -> ProviderError:
    """The classified error for an HTTP error response.

    `provider_code` is the provider's own reason when it changes the kind or the code: a context
    that is too long (400, but another provider with a larger window may accept it), an exhausted
    quota (429, but retrying will not help) or a model that does not exist (404).
    """
    if provider_code in (CONTEXT_LENGTH_EXCEEDED, MODEL_UNAVAILABLE, BLOCKED):
        return RequestRefusedError(provider_code, message, status=status)
    if provider_code == INSUFFICIENT_QUOTA:
        return ProviderFatalError("quota", message, status=status)
    cls, code = _STATUS_TABLE.get(status, _fallback(status))
    if cls is TransientError:
        return TransientError(code, message, status=status, retry_after_s=retry_after_s)
    return cls(code, message, status=status)


def _fallback(status: int) -> tuple[type[ProviderError], str]:
    if status >= 500:
        return TransientError, "unavailable"
    # An unexpected 4xx (405, 410, 415, ...) answers what the request asked for: let the next
    # provider try it, and do not hold it against this one.
    return RequestRefusedError, "client_error"


def timeout_error(message: str) -> TransientError:
    return TransientError("timeout", message)


def connection_error(message: str) -> TransientError:
    return TransientError("connection", message)


def not_configured(provider: str, message: str) -> ProviderFatalError:
    return ProviderFatalError("not_configured", f"{provider}: {message}")


def unexpected_error(provider: str, exc: Exception) -> TransientError:
    """Anything else an SDK raises. Workers only catch `ProviderError`, so an unmapped exception
    would crash the function and have Pub/Sub redeliver the task forever; as a transient error
    it is retried a bounded number of times and then handed to the next provider."""
    return TransientError("unexpected", f"{provider}: {type(exc).__name__}: {exc}")
