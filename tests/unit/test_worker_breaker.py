"""What the worker tells its provider's circuit breaker: the provider's health, never the
request's faults; an open circuit skips the call, a probe is one call (fakes:
tests/unit/worker_fakes.py)."""

from __future__ import annotations

import pytest

from infra.settings import Settings
from shared.providers.base import InvalidTaskError, ProviderError, TransientError
from shared.providers.errors import error_for_status
from shared.schemas import TaskMessage
from shared.task_leases import BeginKind
from shared.worker import Worker
from tests.unit.worker_fakes import (
    GONE,
    OK,
    FakeBreaker,
    FakeBus,
    FakeProvider,
    FakeStore,
    run_models,
    run_with,
)


def test_an_open_circuit_hands_over_without_calling(sleeps: list[float]) -> None:
    outcome, store, provider = run_with(FakeBreaker("skip"), [OK])
    calls, decided = store.finished[0]
    assert (outcome, provider.requests) == ("handed_over", [])
    assert [(c.outcome, c.called_provider) for c in calls] == [("circuit_open", False)]
    assert decided.next_hop == 1
    assert store.leases == []  # no call will be made: no lease is taken


def test_an_open_circuit_leaves_a_finished_task_alone() -> None:
    finished = FakeStore(BeginKind.TERMINAL, status="succeeded", hop=1)  # by the next hop
    store, provider, bus = finished, FakeProvider([OK]), FakeBus()
    worker = Worker(Settings(), store, bus, provider, FakeBreaker("skip"))  # type: ignore[arg-type]
    outcome = worker.process(TaskMessage(task_id="t1", chain=["openai", "vertex"], hop=0))
    assert (outcome, store.finished, bus.published) == ("terminal", [], [])


def test_a_probe_is_one_call_that_reports_as_a_probe(sleeps: list[float]) -> None:
    breaker = FakeBreaker("probe")
    outcome, _, provider = run_with(breaker, [TransientError("unavailable", "503"), OK])
    assert (outcome, len(provider.requests)) == ("handed_over", 1)
    assert breaker.failures == [("unavailable", True)]


def test_invalid_tasks_do_not_count_against_the_provider(sleeps: list[float]) -> None:
    breaker = FakeBreaker()
    run_with(breaker, [InvalidTaskError("invalid_request", "bad")])
    assert breaker.failures == [] and breaker.successes == []


def test_retries_stop_once_the_breaker_opens(sleeps: list[float]) -> None:
    breaker = FakeBreaker(opens_after=1)
    outcome, _, provider = run_with(breaker, [TransientError("unavailable", "503"), OK])
    assert (outcome, len(provider.requests)) == ("handed_over", 1)
    assert sleeps == []


# --- what the circuit breaker hears: the provider's health, never the request's faults -------

PROVIDER_HEALTH = [
    TransientError("unavailable", "503", status=503),
    TransientError("timeout", "read timed out"),
    TransientError("connection", "connection reset"),
    error_for_status(429, "slow down"),
    error_for_status(401, "bad key"),
    error_for_status(403, "permission denied"),
    error_for_status(429, "quota", provider_code="insufficient_quota"),
]
REQUEST_FAULTS = [
    error_for_status(400, "bad request"),
    error_for_status(422, "unprocessable"),
    error_for_status(404, "no such endpoint"),  # Vertex AI: "nobody/x" is another path
    error_for_status(404, "gone", provider_code="model_unavailable"),
    error_for_status(400, "too long", provider_code="context_length_exceeded"),
    error_for_status(413, "too large"),
    error_for_status(400, "blocked", provider_code="blocked"),
    error_for_status(418, "teapot"),
]


def _name(error: ProviderError) -> str:
    return f"{error.status}-{error.code}"


@pytest.mark.parametrize("error", PROVIDER_HEALTH, ids=_name)
def test_provider_failures_count_against_the_provider(
    sleeps: list[float], error: ProviderError
) -> None:
    assert error.counts_against_provider
    breaker = FakeBreaker()
    run_models([error, error, error, OK], breaker)
    assert breaker.failures and {code for code, _ in breaker.failures} == {error.code}


@pytest.mark.parametrize("error", REQUEST_FAULTS, ids=_name)
def test_failures_the_request_caused_never_count(sleeps: list[float], error: ProviderError) -> None:
    assert not error.counts_against_provider
    breaker = FakeBreaker()
    for _ in range(20):  # however many a client sends
        run_models([error, error, error, OK], breaker)
    assert breaker.failures == []


@pytest.mark.parametrize("error", PROVIDER_HEALTH[:3], ids=_name)
def test_a_model_only_the_request_names_proves_nothing_about_the_provider(
    sleeps: list[float], error: ProviderError
) -> None:
    """A client-chosen model outside the catalog and the configuration (a partner model that is
    down, a private endpoint) may fail for reasons of its own: not counted either."""
    breaker = FakeBreaker()
    run_models([error] * 6, breaker, model={"openai": "nobody/always-503"})
    assert breaker.failures == []
    run_models([error] * 6, breaker, model={"openai": "gpt-6.1-terra-2026-10-26"})  # a snapshot
    assert breaker.failures  # of a catalog model: the provider's health again


def test_a_probe_refused_for_its_request_is_released_not_counted(sleeps: list[float]) -> None:
    breaker = FakeBreaker("probe")
    refused = error_for_status(404, "no such endpoint")
    outcome, _, _, provider = run_models([refused, OK], breaker)
    assert (outcome, len(provider.requests)) == ("handed_over", 1)
    assert (breaker.failures, breaker.successes, breaker.released) == ([], [], 1)


def test_an_invalid_task_in_a_probe_releases_it(sleeps: list[float]) -> None:
    breaker = FakeBreaker("probe")
    outcome, _, _, _ = run_models([error_for_status(400, "bad")], breaker)
    assert (outcome, breaker.failures, breaker.released) == ("failed", [], 1)


def test_a_probe_with_a_verdict_is_not_released(sleeps: list[float]) -> None:
    answered, failed = FakeBreaker("probe"), FakeBreaker("probe")
    run_models([GONE, OK], answered)  # the fallback model's answer decides
    run_models([TransientError("unavailable", "503")], failed)
    assert (answered.successes, answered.released) == ([True], 0)
    assert (failed.failures, failed.released) == ([("unavailable", True)], 0)
