"""The worker's decisions per error kind, with plain fakes for the store, bus and provider
(tests/unit/worker_fakes.py; what the circuit breaker hears: test_worker_breaker.py)."""

from __future__ import annotations

import json

import pytest

from infra.settings import Settings
from shared.providers.base import Completion, InvalidTaskError, ProviderFatalError, TransientError
from shared.schemas import TaskMessage, TaskStatus
from shared.task_leases import BeginKind, Outcome
from shared.worker import Worker
from tests.unit.worker_fakes import (
    GONE,
    OK,
    FakeBreaker,
    FakeBus,
    FakeProvider,
    FakeStore,
    run,
    run_models,
    topics,
)


def test_success_records_one_call_and_publishes_the_result_event(sleeps: list[float]) -> None:
    outcome, store, bus, _ = run([OK])
    assert outcome == "succeeded"
    calls, decided = store.finished[0]
    assert [c.outcome for c in calls] == ["ok"]
    assert decided.result == {
        "text": "answer",
        "provider": "openai",
        "model": "gpt-6.1-terra",
        "finish_reason": "stop",
    }
    assert topics(bus) == ["task-results"]
    assert sleeps == []


def test_transient_errors_are_retried_in_process_then_succeed(sleeps: list[float]) -> None:
    outcome, store, _bus, provider = run(
        [
            TransientError("unavailable", "503"),
            TransientError("rate_limited", "429", retry_after_s=1.5),
            OK,
        ]
    )
    assert outcome == "succeeded"
    assert [c.outcome for c in store.finished[0][0]] == ["transient", "transient", "ok"]
    assert len(provider.requests) == 3
    assert sleeps == [0.1, 1.5]  # back-off, then the provider's Retry-After


def test_retry_after_is_capped(sleeps: list[float]) -> None:
    run([TransientError("rate_limited", "429", retry_after_s=600), OK])
    assert sleeps == [2]


def test_exhausted_transient_budget_hands_over_to_the_next_provider(sleeps: list[float]) -> None:
    outcome, store, bus, provider = run([TransientError("unavailable", "503")] * 3)
    assert outcome == "handed_over"
    assert store.finished[0][1] == Outcome(TaskStatus.QUEUED, next_hop=1)
    assert topics(bus) == ["tasks-vertex"]
    assert TaskMessage.model_validate_json(bus.published[0][1]).hop == 1
    assert len(provider.requests) == 3


def test_provider_fatal_hands_over_at_once(sleeps: list[float]) -> None:
    outcome, _store, bus, provider = run([ProviderFatalError("auth", "401")])
    assert (outcome, topics(bus), len(provider.requests)) == ("handed_over", ["tasks-vertex"], 1)
    assert sleeps == []


def test_last_provider_failing_ends_in_the_dead_letter_topic(sleeps: list[float]) -> None:
    outcome, _, bus, _ = run([ProviderFatalError("auth", "401")], chain=("openai",))
    assert (outcome, topics(bus)) == ("handed_over", ["tasks-dead"])


def test_invalid_task_fails_without_trying_other_providers(sleeps: list[float]) -> None:
    _outcome, store, bus, _ = run([InvalidTaskError("invalid_request", "bad")])
    decided = store.finished[0][1]
    assert decided.status is TaskStatus.FAILED
    assert decided.error is not None and decided.error["code"] == "invalid_task"
    assert topics(bus) == ["task-results"]


@pytest.mark.parametrize("kind", [BeginKind.TERMINAL, BeginKind.LEASED, BeginKind.MISSING])
def test_duplicate_deliveries_never_call_the_provider(kind: BeginKind) -> None:
    finished_elsewhere = {"hop": 1, "status": "succeeded"}  # (TERMINAL: at another hop)
    outcome, store, bus, provider = run([OK], store=FakeStore(kind, **finished_elsewhere))
    assert (outcome, provider.requests, store.finished, bus.published) == (kind.value, [], [], [])


def test_a_redelivery_of_the_hop_that_finished_the_task_publishes_its_event_again() -> None:
    """The delivery that finished the task was not acked (it may have died between its commit
    and its publish): the completion event goes out again, the provider is not called."""
    done = FakeStore(BeginKind.TERMINAL, status="succeeded", hop=0)
    outcome, store, bus, provider = run([OK], store=done)
    assert (outcome, provider.requests, store.finished) == ("completion_republished", [], [])
    assert topics(bus) == ["task-results"]
    event = json.loads(bus.published[0][1])
    assert (event["task_id"], event["status"]) == ("t1", "succeeded")


def test_stale_delivery_republishes_a_recorded_hand_over() -> None:
    outcome, _, bus, provider = run([OK], store=FakeStore(BeginKind.STALE, hop=1))
    assert (outcome, topics(bus), provider.requests) == ("handed_over", ["tasks-vertex"], [])


def test_dead_lettered_delivery_records_the_skipped_hop(sleeps: list[float]) -> None:
    # The openai subscription dead-lettered a hop-0 message onto tasks-vertex; this worker is
    # vertex (FakeProvider is named openai, so use a three-provider chain to stay honest).
    outcome, store, _, _ = run(
        [OK],
        chain=("vertex", "openai"),
        hop=0,
        dead_letter_source="projects/p/subscriptions/tasks-vertex-worker",
    )
    calls = store.finished[0][0]
    assert outcome == "succeeded"
    assert [(c.provider, c.outcome, c.called_provider) for c in calls] == [
        ("vertex", "dead_lettered", False),
        ("openai", "ok", True),
    ]


# --- a model the provider does not have -------------------------------------------------------


def test_an_unavailable_model_is_replaced_by_the_fallback_model(sleeps: list[float]) -> None:
    answered = Completion("answer", "gpt-6-luna", "stop", 10, 5, 15)
    outcome, store, bus, provider = run_models([GONE, answered], task_type="creative")
    calls, decided = store.finished[0]
    assert outcome == "succeeded" and topics(bus) == ["task-results"]
    assert [r.model for r in provider.requests] == ["gpt-6.1-terra", "gpt-6-luna"]
    assert [(c.model, c.outcome, (c.error or {}).get("code")) for c in calls] == [
        ("gpt-6.1-terra", "provider_fatal", "model_unavailable"),
        ("gpt-6-luna", "ok", None),
    ]
    assert calls[0].cost_usd == 0.0  # a refused call is not billed
    assert decided.result is not None and decided.result["model"] == "gpt-6-luna"
    assert sleeps == []


def test_the_fallback_model_follows_the_task_type(sleeps: list[float]) -> None:
    _, _, _, provider = run_models([GONE, OK], task_type="analytical")
    assert [r.model for r in provider.requests] == ["gpt-6.2-sol", "gpt-6.1-sol"]


def test_an_explicit_model_that_is_unavailable_also_gets_the_fallback(sleeps: list[float]) -> None:
    _, store, _, provider = run_models([GONE, OK], model={"openai": "gpt-typo"})
    assert [r.model for r in provider.requests] == ["gpt-typo", "gpt-6-luna"]
    assert store.finished[0][1].status is TaskStatus.SUCCEEDED


def test_both_models_unavailable_hands_over_with_both_recorded(sleeps: list[float]) -> None:
    outcome, store, bus, provider = run_models([GONE, GONE])
    assert (outcome, topics(bus), len(provider.requests)) == ("handed_over", ["tasks-vertex"], 2)
    assert [c.model for c in store.finished[0][0]] == ["gpt-6.1-terra", "gpt-6-luna"]


def test_no_fallback_when_it_is_the_model_that_failed(sleeps: list[float]) -> None:
    outcome, _, bus, provider = run_models([GONE, OK], model={"openai": "gpt-6-luna"})
    assert (outcome, topics(bus), len(provider.requests)) == ("handed_over", ["tasks-vertex"], 1)


def test_no_fallback_configured_hands_over_at_once(sleeps: list[float]) -> None:
    settings = Settings(openai_fallback_model="", openai_fallback_models_by_type={})
    store, bus, provider = FakeStore(), FakeBus(), FakeProvider([GONE, OK])
    outcome = Worker(settings, store, bus, provider).process(  # type: ignore[arg-type]
        TaskMessage(task_id="t1", chain=["openai", "vertex"], hop=0)
    )
    assert (outcome, topics(bus), len(provider.requests)) == ("handed_over", ["tasks-vertex"], 1)


def test_other_errors_do_not_try_the_fallback_model(sleeps: list[float]) -> None:
    _, _, bus, provider = run_models([ProviderFatalError("auth", "401"), OK])
    assert (topics(bus), len(provider.requests)) == (["tasks-vertex"], 1)


def test_an_unavailable_model_is_not_reported_to_the_breaker(sleeps: list[float]) -> None:
    breaker = FakeBreaker()
    run_models([GONE, OK], breaker)
    assert breaker.failures == []  # about the request's model, not the provider's health
    assert breaker.successes == [False]


def test_a_probe_that_finds_its_model_gone_probes_with_the_fallback(sleeps: list[float]) -> None:
    breaker = FakeBreaker("probe")
    outcome, _, _, provider = run_models([GONE, OK], breaker)
    assert (outcome, len(provider.requests)) == ("succeeded", 2)
    assert breaker.successes == [True]
