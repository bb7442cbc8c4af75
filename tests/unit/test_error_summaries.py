"""Provider error texts: clients get a code and a fixed sentence, the worker's log the whole text.

A provider's own message can carry its request id, the organisation's name and internal URLs;
none of that may reach a task document (`GET /tasks/{id}`, the V2 `POST /`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from shared.error_summaries import SUMMARIES, summary
from shared.providers.base import InvalidTaskError, ProviderError
from shared.providers.errors import error_for_status
from shared.structured_logs import CloudLoggingFormatter, task_context
from shared.usage import CallRecord, attempt_entries
from shared.worker import _error

RAW = (
    "The model `gpt-x` does not exist or you do not have access to it. org-AcmeSecretOrg "
    "req_4f1b2c3d see https://internal.example.test/v1/proj-7?key=hunter2"
)
SECRETS = ("org-AcmeSecretOrg", "req_4f1b2c3d", "internal.example.test", "hunter2", "gpt-x")
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _record(error: ProviderError) -> CallRecord:
    return CallRecord.failure("openai", "gpt-6.1-terra", NOW, NOW, error)


@pytest.mark.parametrize(
    ("status", "provider_code"),
    [(404, "model_unavailable"), (401, None), (400, None), (429, "insufficient_quota"),
     (503, None), (413, None), (418, None)],
)  # fmt: skip
def test_a_failed_call_keeps_a_summary_and_logs_the_text(
    status: int, provider_code: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    error = error_for_status(status, RAW, provider_code=provider_code)
    with caplog.at_level(logging.WARNING), task_context("task-123"):
        record = _record(error)
        logged = [CloudLoggingFormatter("worker-openai").format(r) for r in caplog.records]
    assert record.error == {"code": error.code, "message": summary(error.code)}
    stored = json.dumps(attempt_entries([record], 1, ["u-1"]), default=str)
    assert not [secret for secret in SECRETS if secret in stored]
    line = json.loads(next(text for text in logged if "provider error text" in text))
    assert (line["task_id"], line["code"], line["text"]) == ("task-123", error.code, RAW)


def test_every_code_the_adapters_raise_has_a_sentence() -> None:
    codes = {
        error_for_status(status, "x", provider_code=reason).code
        for status in (400, 401, 402, 403, 404, 408, 409, 413, 418, 422, 429, 500, 503, 504)
        for reason in (None, "model_unavailable", "context_length_exceeded", "insufficient_quota")
    }
    codes |= {"timeout", "connection", "unexpected", "not_configured", "bad_response", "blocked"}
    assert codes <= set(SUMMARIES), codes - set(SUMMARIES)
    assert summary("something-new") == "the provider call failed"
    assert all(sentence and "{" not in sentence for sentence in SUMMARIES.values())


def test_a_task_failed_as_invalid_says_the_code_and_the_sentence() -> None:
    error = InvalidTaskError("invalid_request", RAW)
    assert _error("invalid_task", error) == {
        "code": "invalid_task",
        "message": "invalid_request: the provider refused the request as invalid",
    }
