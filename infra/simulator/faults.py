"""Run-time fault injection and call counters, shared by every request thread of the simulator.

One `SimState` per server: the HTTP handlers ask it what to do with each model call and report
how the call ended; the control API (`/_sim/...`) changes or reads it.
"""

from __future__ import annotations

import random
import threading
import zlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from shared.errors import AIExecError
from shared.providers.registry import known_providers

PROVIDERS = tuple(known_providers())  # every registered provider (shared/providers/registry.py)
# `invalid-json`: the call is answered, but a structured answer does not follow its schema.
# `batch-*`: only batch jobs created while the mode is set are affected (online calls answer):
# the job fails, expires, or answers a deterministic tenth of its lines with an error
# (infra/simulator/batch_engine.py).
BATCH_MODES = ("batch-fail", "batch-expire", "batch-line-errors")
MODES = (
    "ok", "down", "rate-limit", "slow", "flaky", "auth", "quota", "reset", "invalid-json",
    *BATCH_MODES,
)  # fmt: skip
ANSWERING_MODES = ("ok", "invalid-json", *BATCH_MODES)  # modes in which the dialect answers
# The faults a batch API request (file upload, job create/get/list/cancel) answers with, as the
# provider's whole API would be out; the rest (slow, flaky, invalid-json) concern model calls.
_BATCH_API_FAULTS = ("down", "rate-limit", "quota", "auth", "reset")


class FaultSpecError(AIExecError, ValueError):
    """A control request asked for something the simulator cannot do."""


@dataclass(frozen=True)
class Fault:
    mode: str = "ok"
    retry_after_s: float = 1.0
    delay_s: float = 3.0
    failure_rate: float = 0.5
    status: int = 503
    seed: int | None = None
    count: int | None = None  # calls (batch-* modes: jobs) it still affects; then ok


@dataclass(frozen=True)
class Outcome:
    """What the handler must do before (or instead of) answering a model call.

    `mode` is "ok" to answer normally (after sleeping `delay_s`, which is 0 unless slow), or the
    name of the fault to render in the provider's own error shape.
    """

    mode: str
    delay_s: float = 0.0
    status: int = 503  # of a "down" outcome; the other faults have their provider's own status
    retry_after_s: float | None = None
    generation: int = 0  # the reset epoch the call began in; later resets disown it


@dataclass
class Counters:
    calls: int = 0
    ok: int = 0
    errors: int = 0


@dataclass
class _ProviderState:
    fault: Fault = field(default_factory=Fault)
    counters: Counters = field(default_factory=Counters)
    rng: random.Random = field(default_factory=random.Random)


def _default_seed(provider: str) -> int:
    # Stable across processes (unlike hash()), so a flaky run replays the same failures.
    return zlib.crc32(provider.encode())


def parse_fault(spec: dict[str, Any]) -> Fault:
    """Validate a control-API body into a `Fault`; unknown keys are an error, not ignored."""
    allowed = {"mode", "retry_after_s", "delay_s", "failure_rate", "status", "seed", "count"}
    unknown = set(spec) - allowed
    if unknown:
        raise FaultSpecError(f"unknown fault parameter(s): {', '.join(sorted(unknown))}")
    mode = spec.get("mode")
    if mode not in MODES:
        raise FaultSpecError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    try:
        fault = Fault(
            mode=mode,
            retry_after_s=float(spec.get("retry_after_s", 1.0)),
            delay_s=float(spec.get("delay_s", 3.0)),
            failure_rate=float(spec.get("failure_rate", 0.5)),
            status=int(spec.get("status", 503)),
            seed=None if spec.get("seed") is None else int(spec["seed"]),
            count=None if spec.get("count") is None else int(spec["count"]),
        )
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"invalid fault parameter: {exc}") from exc
    if fault.retry_after_s < 0 or fault.delay_s < 0:
        raise FaultSpecError("retry_after_s and delay_s must be >= 0")
    if not 0.0 <= fault.failure_rate <= 1.0:
        raise FaultSpecError("failure_rate must be between 0 and 1")
    if fault.count is not None and fault.count < 1:
        raise FaultSpecError("count must be >= 1")
    if not 400 <= fault.status <= 599:
        raise FaultSpecError("status must be an HTTP error status (400-599)")
    return fault


class SimState:
    """Thread-safe fault configuration and counters for all providers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._providers: dict[str, _ProviderState] = {}
        self._generation = 0
        # Set by reset and shutdown so that requests sleeping in a "slow" fault wake at once and
        # a test's leftover slow call cannot land in the next test's counters.
        self._wake = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()
            self._generation += 1
            self._providers = {p: _ProviderState() for p in PROVIDERS}
            for name, state in self._providers.items():
                state.rng.seed(_default_seed(name))

    def set_fault(self, provider: str, fault: Fault) -> None:
        self._check(provider)
        with self._lock:
            state = self._providers[provider]
            state.fault = fault
            # Re-seeding on every change makes "set flaky, send N calls" replayable in tests.
            state.rng.seed(fault.seed if fault.seed is not None else _default_seed(provider))

    def faults(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: asdict(state.fault) for name, state in self._providers.items()}

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: asdict(state.counters) for name, state in self._providers.items()}

    def begin_call(self, provider: str) -> Outcome:
        """Count a model call and decide, under the lock, how the fault affects it."""
        self._check(provider)
        with self._lock:
            state = self._providers[provider]
            state.counters.calls += 1
            fault, generation = state.fault, self._generation
            if fault.mode == "flaky":
                failed = state.rng.random() < fault.failure_rate
                outcome = Outcome("down", status=fault.status) if failed else Outcome("ok")
            else:
                outcome = _outcome_for(fault)
            if fault.count is not None and fault.mode not in BATCH_MODES:
                state.fault = _spent(fault)
        return replace(outcome, generation=generation)

    def fault(self, provider: str) -> Fault:
        self._check(provider)
        with self._lock:
            return self._providers[provider].fault

    def batch_job_mode(self, provider: str) -> str:
        """The mode a new batch job of `provider` is created under; a batch-* fault with a
        `count` counts jobs (not model calls)."""
        self._check(provider)
        with self._lock:
            state = self._providers[provider]
            fault = state.fault
            if fault.mode in BATCH_MODES and fault.count is not None:
                state.fault = _spent(fault)
            return fault.mode

    def batch_api_outcome(self, provider: str) -> Outcome:
        """How a batch API request fares: not a model call (not counted, `count` untouched)."""
        fault = self.fault(provider)
        if fault.mode in _BATCH_API_FAULTS:
            return _outcome_for(fault)
        return Outcome("ok")

    def sleep(self, outcome: Outcome) -> None:
        """Apply a "slow" delay; returns early on reset or shutdown."""
        if outcome.delay_s > 0:
            with self._lock:
                wake = self._wake if outcome.generation == self._generation else None
            if wake is not None:
                wake.wait(outcome.delay_s)

    def shutdown(self) -> None:
        with self._lock:
            self._wake.set()

    def end_call(self, outcome: Outcome, provider: str, status: int) -> None:
        with self._lock:
            if outcome.generation != self._generation:
                return  # began before a reset: its result belongs to nobody's counters
            counters = self._providers[provider].counters
            if 200 <= status < 300:
                counters.ok += 1
            else:
                counters.errors += 1

    def _check(self, provider: str) -> None:
        if provider not in PROVIDERS:
            raise FaultSpecError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")


def _spent(fault: Fault) -> Fault:
    """The fault after one more call (or job) it affected: `ok` once its count is used up."""
    assert fault.count is not None
    left = fault.count - 1
    return replace(fault, count=left) if left else Fault()


def _outcome_for(fault: Fault) -> Outcome:
    if fault.mode == "slow":
        return Outcome("ok", delay_s=fault.delay_s)
    if fault.mode == "down":
        return Outcome("down", status=fault.status)
    if fault.mode in ("rate-limit", "quota"):
        return Outcome(fault.mode, retry_after_s=fault.retry_after_s)
    if fault.mode in ("auth", "reset", "invalid-json"):
        return Outcome(fault.mode)
    return Outcome("ok")
