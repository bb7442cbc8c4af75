"""A circuit breaker per provider, shared by every worker instance through Firestore.

`circuits/{provider}` holds the state (closed / open / half_open), the counts of the current
window and when it opened. Cost is kept off the healthy path: a worker reads the document at most
once per `circuit_cache_s`, successes are written only while the window holds failures (a blind
increment), and failures and probe claims are writes conditioned on the state they read.

Only failures that are evidence about the provider's health are recorded: the worker decides
with `ProviderError.counts_against_provider` (outages, rate limits, timeouts, credentials,
quota) and never reports a failure the request caused (a model the provider does not have, a
prompt too long or blocked, an invalid request), so no client can open a circuit for everyone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NoReturn

from shared.clock import utcnow
from shared.firestore.circuits import CircuitDocuments
from shared.firestore.client import ClientSource
from shared.settings import TaskSettings
from shared.structured_logs import log

logger = logging.getLogger(__name__)

_CONTENDED_TRIES = 10


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Decision(StrEnum):
    CALL = "call"  # closed: call as usual
    PROBE = "probe"  # this delivery is the one probe call after the cooldown
    SKIP = "skip"  # open: hand over without calling


@dataclass(frozen=True)
class CircuitView:
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    successes: int = 0
    window_start: datetime | None = None
    opened_at: datetime | None = None
    probe_until: datetime | None = None
    # When it left `closed`: a failed probe re-opens it (`opened_at`, the cooldown's start)
    # but does not restart this, so an alert can tell how long the provider has been skipped.
    open_since: datetime | None = None

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> CircuitView:
        if not data:
            return cls()
        return cls(
            state=CircuitState(data.get("state", CircuitState.CLOSED)),
            failures=int(data.get("failures", 0)),
            successes=int(data.get("successes", 0)),
            window_start=data.get("window_start"),
            opened_at=data.get("opened_at"),
            probe_until=data.get("probe_until"),
            open_since=data.get("open_since") or data.get("opened_at"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "failures": self.failures,
            "successes": self.successes,
            "window_start": self.window_start,
            "opened_at": self.opened_at,
            "probe_until": self.probe_until,
            "open_since": self.open_since,
        }


class CircuitBreaker:
    def __init__(
        self,
        settings: TaskSettings,
        client: ClientSource,
        provider: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.documents = CircuitDocuments(settings, client)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, CircuitView] | None = None

    def view(self) -> CircuitView:
        """The circuit as last read, re-read when the cache is older than `circuit_cache_s`."""
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self.settings.circuit_cache_s:
                return self._cached[1]
        return self._remember(CircuitView.of(self.documents.get(self.provider)))

    def _remember(self, view: CircuitView) -> CircuitView:
        with self._lock:
            self._cached = (time.monotonic(), view)
        return view

    def allow(self) -> Decision:
        view = self.view()
        if view.state is CircuitState.CLOSED:
            return Decision.CALL
        if self._skips(view):
            return Decision.SKIP
        return Decision.PROBE if self._claim_probe() else Decision.SKIP

    def skipping(self) -> bool:
        """Whether `allow` would skip without trying to claim a probe (no write, cached read):
        lets a worker hand a task over without taking a lease it will not use."""
        view = self.view()
        return view.state is not CircuitState.CLOSED and self._skips(view)

    def _skips(self, view: CircuitView) -> bool:
        now = self._clock()
        cooled = view.opened_at is None or now - view.opened_at >= self._cooldown
        probing = view.state is CircuitState.HALF_OPEN and (view.probe_until or now) > now
        return not cooled or probing

    @property
    def _cooldown(self) -> timedelta:
        return timedelta(seconds=self.settings.circuit_cooldown_s)

    def _claim_probe(self) -> bool:
        """Exactly one worker wins the probe after a cooldown (or after a probe died)."""
        lease = timedelta(seconds=self.settings.lease_seconds(self.provider))

        def claim(view: CircuitView, now: datetime) -> CircuitView | None:
            if view.state is CircuitState.CLOSED:
                return None
            if view.state is CircuitState.OPEN and now - (view.opened_at or now) < self._cooldown:
                return None
            if view.state is CircuitState.HALF_OPEN and (view.probe_until or now) > now:
                return None
            return replace(view, state=CircuitState.HALF_OPEN, probe_until=now + lease)

        claimed = self._change(claim)
        if claimed is None:
            self.invalidate()
        return claimed is not None

    def _change(
        self, decide: Callable[[CircuitView, datetime], CircuitView | None]
    ) -> CircuitView | None:
        """Read the circuit, let `decide` give its next state (None: leave it), and write that
        state only if nobody wrote in between; otherwise decide again on what is there now.

        Conditional writes rather than transactions: concurrent transactions on one document
        queue on its lock (two workers failing at once took 8 s on the emulator), while these
        cost a read and a write and retry only when they really collided.
        """

        def next_state(data: dict[str, Any] | None) -> dict[str, Any] | None:
            current = CircuitView.of(data)
            updated = decide(current, self._clock())
            if updated is None:
                self._remember(current)
                return None
            return updated.as_dict()

        def contended() -> NoReturn:
            raise RuntimeError(f"circuit {self.provider} kept changing under concurrent writers")

        written = self.documents.change(
            self.provider, next_state, tries=_CONTENDED_TRIES, exhausted=contended
        )
        return None if written is None else self._remember(CircuitView.of(dict(written)))

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def record_success(self, probe: bool = False) -> None:
        if probe:
            self._write(CircuitView(CircuitState.CLOSED))
            return
        view = self.view()
        if view.failures and not self._window_over(view, self._clock()):
            # Only a window that holds failures needs successes for its ratio.
            self.documents.count_success(self.provider)

    def record_failure(self, code: str, probe: bool = False) -> None:
        """Count a failure of the provider's own (`code` only names it in the log when this
        failure opens the circuit); the caller has decided it counts."""
        if probe:
            now = self._clock()
            since = self.view().open_since or now
            self._write(CircuitView(CircuitState.OPEN, 1, 0, now, now, open_since=since))
            log(
                logger,
                logging.WARNING,
                "probe failed: circuit open again",
                provider=self.provider,
                code=code,
            )
            return

        def count(view: CircuitView, now: datetime) -> CircuitView | None:
            if view.state is not CircuitState.CLOSED:
                return None  # already open (or probing): nothing to count
            if self._window_over(view, now):
                view = CircuitView(window_start=now)
            failures, successes = view.failures + 1, view.successes
            calls = failures + successes
            opens = failures >= self.settings.circuit_failures or (
                calls >= self.settings.circuit_min_calls
                and failures / calls >= self.settings.circuit_failure_ratio
            )
            state = CircuitState.OPEN if opens else CircuitState.CLOSED
            return CircuitView(
                state,
                failures,
                successes,
                view.window_start or now,
                now if opens else None,
                open_since=now if opens else None,
            )

        written = self._change(count)
        if written is not None and written.state is CircuitState.OPEN:
            log(
                logger,
                logging.WARNING,
                "circuit opened",
                provider=self.provider,
                code=code,
                failures=written.failures,
                successes=written.successes,
            )

    def release_probe(self) -> None:
        """The probe call failed for a reason of its own request (a model this provider does not
        have, blocked content, ...), which says nothing either way: give the probe up at once
        rather than when its lease runs out, so the next delivery probes."""

        def free(view: CircuitView, now: datetime) -> CircuitView | None:
            if view.state is not CircuitState.HALF_OPEN or view.probe_until is None:
                return None
            return replace(view, probe_until=None)

        self._change(free)

    def _window_over(self, view: CircuitView, now: datetime) -> bool:
        start = view.window_start
        return start is None or (now - start).total_seconds() > self.settings.circuit_window_s

    def _write(self, view: CircuitView) -> None:
        self.documents.put(self.provider, view.as_dict())
        self._remember(view)


def circuit_states(settings: TaskSettings, client: Any) -> dict[str, dict[str, Any]]:
    """Every provider's circuit (closed when never written), for /health and `aiexec status`."""
    written = CircuitDocuments(settings, lambda: client).all()
    found = {provider: CircuitView.of(data) for provider, data in written.items()}
    return {
        name: {
            "state": found.get(name, CircuitView()).state.value,
            "opened_at": found.get(name, CircuitView()).opened_at,
            "open_since": found.get(name, CircuitView()).open_since,
            "failures": found.get(name, CircuitView()).failures,
        }
        for name in settings.providers
    }
