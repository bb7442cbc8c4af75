"""Fixtures of the ingest security tests: two ingest servers of our own with API keys required.

The session stack (tests/conftest.py) keeps running as it is (keys off, as the e2e suite needs);
next to it we start two functions-framework ingest processes with AIEXEC_API_KEYS_REQUIRED=true
pointed at the same emulators, so one client's limits are shared by two real instances. Server
`a` also gets provider credentials and a credential-bearing URL, for the /health test.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.cloud import firestore
from pydantic import SecretStr

from shared.auth import KeyStore
from shared.budget import Budgets
from shared.localstack.ports import port_free
from shared.localstack.preflight import functions_framework
from shared.localstack.procs import probe, spawn, stop_groups, tail
from shared.settings import Settings
from shared.simulator.client import SimulatorClient
from shared.store import TaskStore

REPO_ROOT = Path(__file__).resolve().parents[2]
PEPPER = "security-tests-pepper"  # fixed: conftest may be imported twice (pytest, tests)
KEY_CACHE_S = 0.5  # short, so a revocation shows within the test's deadline
START_TIMEOUT_S = 60.0
# Secrets only server `a` knows: /health must show none of them.
HEALTH_SECRETS = {
    "OPENAI_API_KEY": "fake-openai-key-for-the-health-test-0123456789",
    "OPENAI_BASE_URL": "http://apiuser:s3cret-pass@127.0.0.1:9/v1",
    "AIEXEC_REPORT_WEBHOOK_URL": "https://hooks.example.test/services/T000/B000/secret-token",
}


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    log: Path
    process: Any


@dataclass(frozen=True)
class Security:
    """What the tests get: the two servers, and the stores they share (real Firestore)."""

    a: Server
    b: Server
    settings: Settings  # the test process's settings, with the servers' pepper
    keys: KeyStore
    budgets: Budgets
    store: TaskStore
    stack: Any

    def key(self, prefix: str = "sec", **limits: Any) -> tuple[str, str]:
        """A new key of a new client: (key, client_id)."""
        client_id = f"{prefix}-{uuid.uuid4().hex[:10]}"
        key, _record = self.keys.create(client_id, **limits)
        return key, client_id


def _free_port(host: str) -> int:
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20_000, 32_000)
        if port_free(host, port):
            return port
    raise RuntimeError("no free port for a security-test ingest server")


def _server_env(stack: Any, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(stack.env)
    env.update(
        {
            "AIEXEC_API_KEYS_REQUIRED": "true",
            "AIEXEC_API_KEY_PEPPER": PEPPER,
            "AIEXEC_API_KEY_CACHE_S": str(KEY_CACHE_S),
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def _start(stack: Any, name: str, logs: Path, extra: dict[str, str]) -> Server:
    host = stack.settings.host
    port = _free_port(host)
    argv = [
        functions_framework(),
        "--source", "functions/ingest/main.py", "--target", "ingest_http",
        "--signature-type", "http", "--host", host, "--port", str(port),
    ]  # fmt: skip
    log = logs / f"ingest-{name}.log"
    process = spawn(argv, cwd=REPO_ROOT, env=_server_env(stack, extra), log=log)
    return Server(name, f"http://{host}:{port}", log, process)


def _wait_ready(servers: list[Server]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = list(servers)
    while pending and time.monotonic() < deadline:
        for server in list(pending):
            if server.process.poll() is not None:
                pytest.fail(f"ingest-{server.name} exited:\n{tail(server.log)}", pytrace=False)
            if probe(server.url + "/health", "200"):
                pending.remove(server)
        if pending:
            time.sleep(0.1)
    if pending:
        logs = "\n".join(tail(s.log) for s in pending)
        pytest.fail(f"security ingest servers did not answer:\n{logs}", pytrace=False)


@pytest.fixture(scope="session")
def security(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Security]:
    logs = tmp_path_factory.mktemp("security-ingest")
    servers = [_start(stack, "a", logs, HEALTH_SECRETS), _start(stack, "b", logs, {})]
    try:
        _wait_ready(servers)
        settings = stack.settings.model_copy(update={"api_key_pepper": SecretStr(PEPPER)})
        client = firestore.Client(project=settings.project_id)
        yield Security(
            a=servers[0],
            b=servers[1],
            settings=settings,
            keys=KeyStore(settings, lambda: client),
            budgets=Budgets(settings, lambda: client),
            store=TaskStore(settings, client),
            stack=stack,
        )
    finally:
        stop_groups([s.process.pid for s in servers], children=[s.process for s in servers])


@pytest.fixture(autouse=True)
def healthy_providers(request: pytest.FixtureRequest) -> None:
    """Tests on the servers start with every provider ok and every circuit closed: the budget
    tests count real costs, the V2 call waits for an answer. (Unit tests start nothing.)"""
    if "security" not in request.fixturenames:
        return
    security: Security = request.getfixturevalue("security")
    SimulatorClient(security.stack.simulator_url).reset()
    circuits = security.store.client.collection(security.settings.collection_circuits)
    for snap in circuits.stream():
        snap.reference.delete()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post_task(
    url: str, key: str | None, body: Any, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = dict(headers or {})
    if key is not None:
        sent.update(bearer(key))
    return httpx.post(f"{url}/tasks", json=body, headers=sent, timeout=30, trust_env=False)


def cli_env(security: Security) -> dict[str, str]:
    """The environment `aiexec keys` needs to manage the servers' keys."""
    env = dict(os.environ)
    env.update(security.stack.env)
    env.update({"AIEXEC_API_KEY_PEPPER": PEPPER, "PYTHONPATH": str(REPO_ROOT)})
    return env


AIEXEC = [sys.executable, "-m", "shared.cli.main"]
