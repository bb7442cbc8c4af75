"""A small client of the simulator's control API, used by `aiexec sim` and by tests."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

import httpx

from shared.errors import AIExecError


class SimulatorControlError(AIExecError):
    """The simulator answered a control request with an error (e.g. an invalid fault spec)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SimulatorClient:
    """Calls `/_sim/...`. Network failures surface as `httpx.TransportError`."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout_s = timeout_s

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_sim/health")

    def set_fault(self, provider: str, mode: str, **params: Any) -> dict[str, Any]:
        """Set `provider`'s fault; params: retry_after_s, delay_s, failure_rate, status, seed.
        The batch-* modes affect the batch jobs created while they are set (`ok` clears)."""
        return self._call("POST", f"/_sim/faults/{provider}", {"mode": mode, **params})

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/_sim/faults")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_sim/stats")

    def calls(self, provider: str) -> int:
        """Model calls `provider` received since the last reset."""
        return int(self.stats()[provider]["calls"])

    def batch(self) -> dict[str, Any]:
        """The batch jobs' delay and every job: {"delay_s", "jobs": [{provider, id, phase,
        lines, mode}]}."""
        return self._call("GET", "/_sim/batch")

    def set_batch_delay(self, delay_s: float) -> dict[str, Any]:
        """Batch jobs created from now on finish `delay_s` seconds after their creation."""
        return self._call("POST", "/_sim/batch", {"delay_s": delay_s})

    def reset(self) -> dict[str, Any]:
        """Every provider ok, counters zeroed, every model as the catalog says, no batch job
        nor file, the batch delay the simulator started with."""
        return self._call("POST", "/_sim/reset")

    def model(self, provider: str, model: str) -> dict[str, Any]:
        """How one model stands: {provider, model, catalog_id, served, shutdown_date, source}."""
        return self._call("GET", f"/_sim/models/{provider}/{quote(model, safe='')}")

    def models(self) -> dict[str, Any]:
        """{"overrides": {provider: {model: view}}, "served": {provider: [model, ...]}}."""
        return self._call("GET", "/_sim/models")

    def set_model(
        self,
        provider: str,
        model: str,
        *,
        shutdown_date: str | Literal[False] | None = False,
        retired: bool = False,
        reset: bool = False,
    ) -> dict[str, Any]:
        """Change one model: a shutdown date ("YYYY-MM-DD", or None for none: served), retired
        at once (404), or back to what the catalog says (reset). Give exactly one."""
        body: dict[str, Any] = {}
        if shutdown_date is not False:
            body["shutdown_date"] = shutdown_date
        if retired:
            body["retired"] = True
        if reset:
            body["reset"] = True
        return self._call("POST", f"/_sim/models/{provider}/{quote(model, safe='')}", body)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.request(method, self.url + path, json=body, timeout=self._timeout_s)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not response.is_success or not isinstance(payload, dict):
            error = payload.get("error") if isinstance(payload, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise SimulatorControlError(response.status_code, str(message or response.text))
        return payload
