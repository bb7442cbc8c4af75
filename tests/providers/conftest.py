"""An in-process provider simulator on a free port, reset before every test that uses it; for
its batch jobs, an in-process Cloud Storage emulator (started once) and the real SDKs' clients."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from gcp_storage_emulator import server as storage_emulator  # type: ignore[import-untyped]
from google import genai
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.genai import types
from google.oauth2.credentials import Credentials

from infra.localstack.envs import env_name
from infra.settings import Settings
from infra.simulator import SimulatorClient, SimulatorServer, start_in_thread
from shared.providers.registry import SPECS

BATCH_BUCKET = "sim-batches"

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


@pytest.fixture(scope="session")
def _storage_emulator() -> Iterator[str]:
    """The Cloud Storage emulator (the PyPI package the local stack runs), in this process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = storage_emulator.create_server(
        "127.0.0.1", port, in_memory=True, default_bucket=BATCH_BUCKET
    )
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(_storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> storage.Bucket:
    """The batch bucket, through google-cloud-storage; the simulator (in this process) and the
    client find the emulator by STORAGE_EMULATOR_HOST, as in the local stack."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", _storage_emulator)
    client = storage.Client(project="demo-aiexec", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    return client.bucket(BATCH_BUCKET)


@pytest.fixture
def openai_client(sim: SimulatorClient) -> openai.OpenAI:
    """The openai SDK pointed at the simulator (as the adapter points it: `<url>/v1`)."""
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="sim-placeholder", max_retries=0)


@pytest.fixture
def genai_client(sim: SimulatorClient) -> genai.Client:
    """google-genai in Vertex AI mode pointed at the simulator (as the adapter builds it: the
    simulator's URL as base_url, a placeholder token, no SDK retries)."""
    options = types.HttpOptions(
        base_url=sim.url, timeout=10_000, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(
        vertexai=True,
        project="demo-aiexec",
        location="us-central1",
        credentials=Credentials(token="sim-placeholder"),  # type: ignore[no-untyped-call]
        http_options=options,
    )
