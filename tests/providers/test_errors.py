"""The classification every adapter shares (`shared/providers/errors.py`): one table decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.providers.base import (
    InvalidTaskError,
    ProviderError,
    ProviderFatalError,
    RequestRefusedError,
    TransientError,
)
from shared.providers.errors import error_for_status, parse_retry_after, retry_after_from_headers


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)

    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(later, now=now.timestamp()) == 90.0
    assert parse_retry_after(format_datetime(now, usegmt=True), now=now.timestamp() + 5) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert retry_after_from_headers({"Retry-After": "2", "retry-after-ms": "1500"}) == 1.5
    assert retry_after_from_headers({"Retry-After": "2"}) == 2.0
    assert retry_after_from_headers(None) is None


@pytest.mark.parametrize(
    ("status", "provider_code", "expected", "code"),
    [
        (400, None, InvalidTaskError, "invalid_request"),
        (422, None, InvalidTaskError, "invalid_request"),
        (400, "context_length_exceeded", RequestRefusedError, "context_length_exceeded"),
        (401, None, ProviderFatalError, "auth"),
        (402, None, ProviderFatalError, "quota"),
        (403, None, ProviderFatalError, "auth"),
        (404, None, RequestRefusedError, "not_found"),
        (404, "model_unavailable", RequestRefusedError, "model_unavailable"),
        (413, None, RequestRefusedError, "context_length_exceeded"),
        (418, None, RequestRefusedError, "client_error"),
        (429, None, TransientError, "rate_limited"),
        (429, "insufficient_quota", ProviderFatalError, "quota"),
        (500, None, TransientError, "unavailable"),
        (502, None, TransientError, "unavailable"),
        (504, None, TransientError, "timeout"),
        (529, None, TransientError, "unavailable"),  # Anthropic's "overloaded"
    ],
)
def test_status_table(
    status: int, provider_code: str | None, expected: type[ProviderError], code: str
) -> None:
    error = error_for_status(status, "boom", provider_code=provider_code, retry_after_s=1.0)

    assert type(error) is expected
    assert (error.code, error.status) == (code, status)
    assert error.retry_after_s == (1.0 if expected is TransientError else None)
    # Only the provider's own failures count for its circuit breaker, never the request's.
    request_caused = expected in (InvalidTaskError, RequestRefusedError)
    assert error.counts_against_provider is not request_caused
