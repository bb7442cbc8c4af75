"""Plain fakes of the worker's store, bus, provider and circuit breaker, and runs of a worker
on them, for the unit tests of its decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.settings import Settings
from shared.providers.base import Completion, CompletionRequest, ProviderError, RequestRefusedError
from shared.schemas import TaskMessage, TaskStatus
from shared.task_leases import Begin, BeginKind, Outcome
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

    def begin(
        self,
        task_id: str,
        hop: int,
        provider: str,
        owner: str,
        known: tuple[dict[str, Any], Any] | None = None,
    ) -> Begin:
        self.leases.append(owner)
        self.known = known
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
