"""How provider calls become `attempts` entries: one per provider hop, and one per model when a
model the provider does not have gives way to the fallback model."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import utcnow
from shared.providers.base import Completion, ProviderFatalError, TransientError
from shared.usage import CallRecord, add_usage, attempt_entries

NOW = utcnow()


def failed(provider: str, model: str, error: Exception, second: int) -> CallRecord:
    at = NOW + timedelta(seconds=second)
    return CallRecord.failure(provider, model, at, at, error)  # type: ignore[arg-type]


def answered(provider: str, model: str, second: int) -> CallRecord:
    at = NOW + timedelta(seconds=second)
    return CallRecord.success(
        provider, model, at, at, Completion("t", model, "stop", 1000, 500, 1500)
    )


def test_a_model_unavailable_call_ends_its_attempt_and_the_fallback_starts_one() -> None:
    gone = ProviderFatalError("model_unavailable", "no such model", status=404)
    calls = [
        failed("openai", "gpt-6.1-terra", gone, 0),
        answered("openai", "gpt-6-luna", 1),
    ]

    entries = attempt_entries(calls, 1, ["t-1", "t-2"])

    assert [(e["attempt"], e["provider"], e["model"], e["outcome"]) for e in entries] == [
        (1, "openai", "gpt-6.1-terra", "provider_fatal"),
        (2, "openai", "gpt-6-luna", "ok"),
    ]
    assert entries[0]["error"]["code"] == "model_unavailable"
    assert [e["usage_ids"] for e in entries] == [["t-1"], ["t-2"]]
    usage = add_usage(None, calls)
    assert calls[0].cost_usd == 0.0 and usage["cost_usd"] == calls[1].cost_usd  # refused: free
    assert usage["total_tokens"] == 1500


def test_retries_on_one_provider_stay_one_attempt() -> None:
    busy = TransientError("unavailable", "503", status=503)
    calls = [
        failed("openai", "gpt-6.1-terra", busy, 0),
        failed("openai", "gpt-6.1-terra", busy, 1),
        answered("vertex", "gemini-3.8-flash", 2),
    ]

    entries = attempt_entries(calls, 1, ["t-1", "t-2", "t-3"])

    assert [(e["provider"], e["calls"], e["outcome"]) for e in entries] == [
        ("openai", 2, "transient"),
        ("vertex", 1, "ok"),
    ]
