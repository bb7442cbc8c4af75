"""An in-process provider simulator on a free port, reset before every test that uses it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.localstack.envs import env_name
from infra.settings import Settings
from infra.simulator import SimulatorClient, SimulatorServer, start_in_thread
from shared.providers.registry import SPECS

# Every setting that would send a provider's calls past the simulator (a key, an endpoint), as
# the providers' specs declare them: None in the tests' settings, whatever the environment holds.
_ENDPOINT_FIELDS = {
    field
    for field in Settings.model_fields
    if any(env_name(field) in spec.simulator.endpoint_env for spec in SPECS.values())
}


@pytest.fixture(scope="session")
def _simulator_server() -> Iterator[SimulatorServer]:
    server, _ = start_in_thread("127.0.0.1", 0)
    yield server
    server.stop()


@pytest.fixture
def sim(_simulator_server: SimulatorServer) -> SimulatorClient:
    """A control client of the running simulator, with all providers ok and counters at zero."""
    client = SimulatorClient(_simulator_server.url)
    client.reset()
    return client


def timeouts(seconds: float) -> dict[str, float]:
    """Every provider's call timeout (`<provider>_timeout_s`: each section's field name)."""
    return {f"{name}_timeout_s": seconds for name in SPECS}


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """Settings that reach only what the test names, whatever the developer's environment holds."""

    def build(sim_url: str | None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "simulator_url": sim_url,
            "vertex_project": None,
            "project_id": "demo-aiexec",
            "vertex_location": "us-central1",
            **dict.fromkeys(_ENDPOINT_FIELDS),
            **timeouts(2.0),
        }
        return Settings(**(values | overrides))

    return build
