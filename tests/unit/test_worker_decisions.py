"""The worker's decisions per error kind, with plain fakes for the store, bus and provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared import worker as worker_module
from shared.providers.base import (
    Completion,
    CompletionRequest,
    InvalidTaskError,
    ProviderError,
    ProviderFatalError,
    RequestRefusedError,
    TransientError,
)
from shared.providers.errors import error_for_status
from shared.schemas import TaskMessage, TaskStatus
from shared.settings import Settings
from shared.store import Begin, BeginKind, Outcome
from shared.usage import CallRecord
from shared.worker import Worker

OK = Completion("answer", "gpt-6.1-terra", "stop", 10, 5, 15)


class FakeProvider:
    name = "openai"

    def __init__(self, script: list[Completion | ProviderError]) -> None:
        self.script = list(script)
        self.requests: list[CompletionRequest] = []

    def default_model(self) -> str:
        return "gpt-6.1-terra"

    def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        step = self.script.pop(0)
        if isinstance(step, ProviderError):
            raise step
        return step


class FakeStore:
    def __init__(self, begin_kind: BeginKind = BeginKind.START, **task: Any) -> None:
        self.begin_kind = begin_kind
        self.task = {
            "task_id": "t1",
            "client_id": "c",
            "status": "queued",
            "hop": 0,
            "request": {"task_description": "hello"},
        } | task
        self.finished: list[tuple[list[CallRecord], Outcome]] = []
        self.leases: list[str] = []

    def begin(self, task_id: str, hop: int, provider: str, owner: str) -> Begin:
        self.leases.append(owner)
        return Begin(self.begin_kind, self.task)

    def pass_on(
        self, task_id: str, hop: int, records: Callable[[dict[str, Any]], list[CallRecord]]
    ) -> Begin:
        if self.begin_kind is not BeginKind.START:
            return Begin(self.begin_kind, self.task)
        outcome = Outcome(TaskStatus.QUEUED, next_hop=hop + 1)
        self.finished.append((records(self.task), outcome))
        return Begin(BeginKind.START, self.task | {"hop": hop + 1})

    def finish(
        self,
        task_id: str,
        owner: str,
        calls: list[CallRecord],
        outcome: Outcome,
        lease: Begin | None = None,
    ) -> dict[str, Any]:
        self.finished.append((calls, outcome))
        return self.task | {"status": outcome.status.value, "result": outcome.result}


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        self.published.append((topic, data))
        return str(len(self.published))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(worker_module, "pause", recorded.append)
    return recorded


def run(
    script: list[Completion | ProviderError],
    store: FakeStore | None = None,
    hop: int = 0,
    chain: tuple[str, ...] = ("openai", "vertex"),
    dead_letter_source: str | None = None,
) -> tuple[str, FakeStore, FakeBus, FakeProvider]:
    settings = Settings(provider_attempts=3, retry_backoff_s=0.1, max_retry_after_s=2)
    store = store or FakeStore()
    bus, provider = FakeBus(), FakeProvider(script)
    worker = Worker(settings, store, bus, provider)  # type: ignore[arg-type]
    outcome = worker.process(
        TaskMessage(task_id="t1", chain=list(chain), hop=hop), dead_letter_source
    )
    return outcome, store, bus, provider


def topics(bus: FakeBus) -> list[str]:
    return [topic for topic, _ in bus.published]


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
    outcome, store, bus, provider = run([OK], store=FakeStore(kind))
    assert (outcome, provider.requests, store.finished, bus.published) == (kind.value, [], [], [])


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


class FakeBreaker:
    def __init__(self, decision: str = "call", opens_after: int | None = None) -> None:
        from shared.circuit import CircuitState, CircuitView, Decision

        self.decision = Decision(decision)
        self.failures: list[tuple[str, bool]] = []
        self.successes: list[bool] = []
        self.released = 0
        self.opens_after = opens_after
        self._view = CircuitView
        self._state = CircuitState

    def allow(self) -> Any:
        return self.decision

    def skipping(self) -> bool:
        return self.decision == "skip"

    def view(self) -> Any:
        opened = self.opens_after is not None and len(self.failures) >= self.opens_after
        return self._view(self._state.OPEN if opened else self._state.CLOSED)

    def record_failure(self, code: str, probe: bool = False) -> None:
        self.failures.append((code, probe))

    def record_success(self, probe: bool = False) -> None:
        self.successes.append(probe)

    def release_probe(self) -> None:
        self.released += 1


def run_with(
    breaker: FakeBreaker, script: list[Completion | ProviderError]
) -> tuple[str, FakeStore, FakeProvider]:
    settings = Settings(provider_attempts=3, retry_backoff_s=0)
    store, provider = FakeStore(), FakeProvider(script)
    worker = Worker(settings, store, FakeBus(), provider, breaker)  # type: ignore[arg-type]
    outcome = worker.process(TaskMessage(task_id="t1", chain=["openai", "vertex"], hop=0))
    return outcome, store, provider


def test_an_open_circuit_hands_over_without_calling(sleeps: list[float]) -> None:
    outcome, store, provider = run_with(FakeBreaker("skip"), [OK])
    calls, decided = store.finished[0]
    assert (outcome, provider.requests) == ("handed_over", [])
    assert [(c.outcome, c.called_provider) for c in calls] == [("circuit_open", False)]
    assert decided.next_hop == 1
    assert store.leases == []  # no call will be made: no lease is taken


def test_an_open_circuit_leaves_a_finished_task_alone() -> None:
    store, provider, bus = FakeStore(BeginKind.TERMINAL), FakeProvider([OK]), FakeBus()
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


# --- a model the provider does not have -------------------------------------------------------

GONE = RequestRefusedError("model_unavailable", "The model does not exist", status=404)


def run_models(
    script: list[Completion | ProviderError],
    breaker: FakeBreaker | None = None,
    **request: Any,
) -> tuple[str, FakeStore, FakeBus, FakeProvider]:
    settings = Settings(provider_attempts=3, retry_backoff_s=0)
    store = FakeStore(request={"task_description": "hello", **request})
    bus, provider = FakeBus(), FakeProvider(script)
    worker = Worker(settings, store, bus, provider, breaker)  # type: ignore[arg-type]
    outcome = worker.process(TaskMessage(task_id="t1", chain=["openai", "vertex"], hop=0))
    return outcome, store, bus, provider


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
