"""An in-process provider simulator on a free port, reset before every test that uses it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.simulator import SimulatorClient, SimulatorServer, start_in_thread
from shared.settings import Settings


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


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """Settings that reach only what the test names, whatever the developer's environment holds."""

    def build(sim_url: str | None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "simulator_url": sim_url,
            "openai_api_key": None,
            "openai_base_url": None,
            "vertex_base_url": None,
            "vertex_project": None,
            "project_id": "demo-aiexec",
            "vertex_location": "us-central1",
            "openai_timeout_s": 2.0,
            "vertex_timeout_s": 2.0,
        }
        return Settings(**(values | overrides))

    return build
