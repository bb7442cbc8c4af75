"""Bounded waiting: how many requests one ingest instance holds open for a task's result.

`POST /tasks?wait=N` and the V2 `POST /` hold their request until the task ends (up to
`AIEXEC_WAIT_MAX_S` / `AIEXEC_SYNC_WAIT_S`). A held request occupies one of the instance's
request threads: functions-framework serves with gunicorn's threaded worker and `THREADS`
threads (4 x CPUs when unset; deploy sets it to the function's concurrency, as Google advises for
Python), and a request that finds every thread busy waits in the accept queue — `/health`
included. So waits are capped twice, per instance:

- per client: `AIEXEC_MAX_WAITS_PER_CLIENT` (clients identified by API key; without keys every
  caller is the one `anonymous` client, trusted by IAM, and only the instance cap applies);
- per instance: THREADS minus a reserve of a quarter of them (at least 2), which no wait may
  take: `/health`, reads and submissions without `wait` always find a thread.

One more wait gets 429 `too_many_waits` with `Retry-After`, before any task is created (nothing
is reserved or queued, so the retry is safe). A wait on a task the same client is already
waiting for (the same `task_id` sent again) takes no slot: it is answered at once (202), the
first request still holds the answer.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem

TOO_MANY_WAITS = "too_many_waits"
MIN_RESERVED_THREADS = 2  # never held by a wait: /health and one more request
MAX_RETRY_AFTER_S = 10


def request_threads(environ: Mapping[str, str] | None = None) -> int:
    """This process's request threads as functions-framework counts them: `THREADS`, else
    4 x CPUs (functions_framework/_http/gunicorn.py)."""
    raw = (os.environ if environ is None else environ).get("THREADS", "")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    return value if value > 0 else (os.cpu_count() or 1) * 4


def instance_cap(threads: int) -> int:
    """Waits one instance may hold: its threads minus the reserve (a quarter, at least 2)."""
    reserve = max(MIN_RESERVED_THREADS, math.ceil(threads / 4))
    return max(0, threads - reserve)


class WaitsExhaustedError(RequestProblemError):
    def __init__(self, message: str, retry_after_s: float) -> None:
        seconds = min(MAX_RETRY_AFTER_S, max(1, math.ceil(retry_after_s)))
        problem = FieldProblem(
            code=TOO_MANY_WAITS,
            message=f"{message}; retry in {seconds} s, or submit without waiting and read "
            "GET /tasks/{task_id}",
        )
        super().__init__(problem, 429, {"Retry-After": str(seconds)})


@dataclass(frozen=True)
class _Held:
    client_id: str
    key: tuple[str, str]
    until: float  # monotonic time the wait ends at the latest


class WaitSlots:
    """The waits an instance holds, by client and task (thread-safe; in memory)."""

    def __init__(
        self,
        per_client: int | None,
        per_instance: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client  # None: no per-client cap (one trusted client)
        self.per_instance = per_instance
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], _Held] = {}

    @contextlib.contextmanager
    def hold(self, client_id: str, task_id: str | None, wait_s: float) -> Iterator[bool]:
        """Whether this request may wait (True: a slot is held until the block ends; False: no
        wait was asked for, or this client already waits on this task), or WaitsExhaustedError.
        """
        if wait_s <= 0:
            yield False
            return
        held = self._take(client_id, task_id, wait_s)
        try:
            yield held is not None
        finally:
            if held is not None:
                with self._lock:
                    self._held.pop(held.key, None)

    def count(self, client_id: str | None = None) -> int:
        with self._lock:
            return sum(1 for h in self._held.values() if client_id in (None, h.client_id))

    def _take(self, client_id: str, task_id: str | None, wait_s: float) -> _Held | None:
        key = (client_id, task_id or f"new:{uuid.uuid4().hex}")  # no id: a new task each time
        now = self._monotonic()
        with self._lock:
            if key in self._held:
                return None
            held = list(self._held.values())
            if len(held) >= self.per_instance:
                raise WaitsExhaustedError(
                    f"this instance holds {len(held)} waiting requests, its limit (a share of "
                    "its request threads stays free for other requests)",
                    _soonest(held, now),
                )
            own = [h for h in held if h.client_id == client_id]
            if self.per_client is not None and len(own) >= self.per_client:
                raise WaitsExhaustedError(
                    f"client {client_id} already holds {len(own)} waiting requests, the limit "
                    "per client (AIEXEC_MAX_WAITS_PER_CLIENT)",
                    _soonest(own, now),
                )
            slot = _Held(client_id, key, now + wait_s)
            self._held[key] = slot
            return slot


def _soonest(held: list[_Held], now: float) -> float:
    """Seconds until the first of `held` ends at the latest (a task may end it sooner)."""
    return min((h.until - now for h in held), default=1.0)
