"""Where a new task enters its chain: past the leading providers whose circuits are open.

While a provider's circuit is open every worker would hand its tasks over without a call; routing
around it at ingest saves each task that hop (a push, an invocation, a read and a write) and its
latency. The last provider of a chain is never skipped here: its worker decides at delivery time
(it may be the one to probe, or hand the task to `tasks-dead`). Circuits are read through each
breaker's cache, so a healthy chain costs one read per provider per instance every
`circuit_cache_s`, not one per task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared import fallback
from shared.circuit import CircuitBreaker
from shared.settings import TaskSettings
from shared.usage import CallRecord

logger = logging.getLogger(__name__)


class EntryRouter:
    def __init__(
        self,
        settings: TaskSettings,
        client: Callable[[], Any],
        breakers: dict[str, CircuitBreaker] | None = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self._breakers = breakers if breakers is not None else {}

    def skipped(self, chain: list[str], request: dict[str, Any]) -> list[CallRecord]:
        """One `circuit_open` record per leading provider to skip (empty when the first is up)."""
        records: list[CallRecord] = []
        for provider in chain[:-1]:
            if not self._skipping(provider):
                break
            records.append(fallback.not_called(self.settings, provider, request))
        return records

    def _skipping(self, provider: str) -> bool:
        breaker = self._breakers.get(provider)
        if breaker is None:
            breaker = self._breakers.setdefault(
                provider, CircuitBreaker(self.settings, self._client, provider)
            )
        try:
            return breaker.skipping()
        except Exception:  # an unreadable breaker must not stop ingest: start at the first hop
            logger.exception("circuit breaker unavailable; routing to the first provider")
            return False
