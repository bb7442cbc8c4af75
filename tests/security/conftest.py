"""Fixtures of the ingest security tests: two ingest servers of our own with API keys required.

The session stack (tests/conftest.py) keeps running as it is (keys off, as the e2e suite needs);
next to it we start two functions-framework ingest processes with AIEXEC_API_KEYS_REQUIRED=true
pointed at the same emulators, so one client's limits are shared by two real instances. Server
`a` also gets provider credentials and a credential-bearing URL, for the /health test.

The Pub/Sub door in keys-required mode is a third process, `events` (ingest's `ingest_event`),
fed by push subscriptions of two topics of its own: a shared one (`Security.topic`, like
`tasks`) and the own topic of one client (`Security.topic_client` on `Security.client_topic`,
through AIEXEC_PUBSUB_CLIENT_TOPICS), pushed to the URL path that names the topic, as deploy
does.
"""

from __future__ import annotations

import json
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
from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined, unused-ignore]
from pydantic import SecretStr

from infra.localstack.ports import port_free
from infra.localstack.preflight import functions_framework
from infra.localstack.procs import probe, spawn, stop_groups, tail
from infra.settings import Settings
from infra.simulator.client import SimulatorClient
from infra.topology import topic_path
from shared.auth import KeyStore
from shared.budget import Budgets
from shared.store import TaskStore
from shared.task_ids import task_doc_id

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
    events: Server  # ingest's Pub/Sub door, keys required
    topic: str  # the shared topic it reads (its `tasks`)
    client_topic: str  # the own topic of client `topic_client`
    topic_client: str

    def key(self, prefix: str = "sec", **limits: Any) -> tuple[str, str]:
        """A new key of a new client: (key, client_id)."""
        client_id = f"{prefix}-{uuid.uuid4().hex[:10]}"
        key, _record = self.keys.create(client_id, **limits)
        return key, client_id

    @staticmethod
    def doc(client_id: str, task_id: str) -> str:
        """The document id of a client's task on these servers (keys on: `client~task_id`)."""
        return task_doc_id(task_id, client_id, namespaced=True)

    def task(self, client_id: str, task_id: str) -> dict[str, Any] | None:
        return self.store.get(self.doc(client_id, task_id))

    def wait(self, client_id: str, task_id: str, timeout_s: float) -> dict[str, Any] | None:
        return self.store.wait_for_terminal(self.doc(client_id, task_id), timeout_s)

    def publish(self, topic: str, body: Any, **attributes: str) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        publisher = pubsub_v1.PublisherClient()
        path = publisher.topic_path(self.settings.project_id, topic)
        publisher.publish(path, data, **attributes).result(timeout=30)


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


def _start(
    stack: Any, name: str, logs: Path, extra: dict[str, str], *, events: bool = False
) -> Server:
    host = stack.settings.host
    port = _free_port(host)
    target, signature = ("ingest_event", "cloudevent") if events else ("ingest_http", "http")
    argv = [
        functions_framework(),
        "--source", "functions/ingest/main.py", "--target", target,
        "--signature-type", signature, "--host", host, "--port", str(port),
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
            # The event server answers GET with 405: any answer means it is up.
            if probe(server.url + "/health", "any" if server.name == "events" else "200"):
                pending.remove(server)
        if pending:
            time.sleep(0.1)
    if pending:
        logs = "\n".join(tail(s.log) for s in pending)
        pytest.fail(f"security ingest servers did not answer:\n{logs}", pytrace=False)


def _push_topics(project: str, url: str, topics: dict[str, str]) -> list[str]:
    """Create each topic with a push subscription to `url` + its path; returns the names."""
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    made = []
    for topic, path in topics.items():
        topic_name = publisher.topic_path(project, topic)
        publisher.create_topic(request={"name": topic_name})
        subscriber.create_subscription(
            request={
                "name": subscriber.subscription_path(project, f"{topic}-ingest"),
                "topic": topic_name,
                "push_config": {"push_endpoint": f"{url}/{path}"},
                "ack_deadline_seconds": 60,
            }
        )
        made.append(topic)
    return made


def _drop_topics(project: str, topics: list[str]) -> None:
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for topic in topics:
        subscription = subscriber.subscription_path(project, f"{topic}-ingest")
        subscriber.delete_subscription(request={"subscription": subscription})
        publisher.delete_topic(request={"topic": publisher.topic_path(project, topic)})


@pytest.fixture(scope="session")
def security(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Security]:
    logs = tmp_path_factory.mktemp("security-ingest")
    run = uuid.uuid4().hex[:8]
    topic, client_topic, topic_client = f"sec-tasks-{run}", f"sec-own-{run}", f"own-{run}"
    events_env = {
        "AIEXEC_TOPIC_TASKS": topic,
        "AIEXEC_PUBSUB_CLIENT_TOPICS": f"{topic_client}={client_topic}",
    }
    servers = [
        _start(stack, "a", logs, HEALTH_SECRETS),
        _start(stack, "b", logs, {}),
        _start(stack, "events", logs, events_env, events=True),
    ]
    project = stack.settings.project_id
    topics: list[str] = []
    try:
        _wait_ready(servers)
        events_url = servers[2].url
        settings = stack.settings.model_copy(update={"api_key_pepper": SecretStr(PEPPER)})
        # The shared topic pushes to the bare URL (no topic in the path), as deploy does for
        # `tasks`; the client's own topic to the path that names it.
        topics = _push_topics(
            project, events_url, {topic: "", client_topic: topic_path(settings, client_topic)}
        )
        client = firestore.Client(project=settings.project_id)
        yield Security(
            a=servers[0],
            b=servers[1],
            settings=settings,
            keys=KeyStore(settings, lambda: client),
            budgets=Budgets(settings, lambda: client),
            store=TaskStore(settings, client),
            stack=stack,
            events=servers[2],
            topic=topic,
            client_topic=client_topic,
            topic_client=topic_client,
        )
    finally:
        stop_groups([s.process.pid for s in servers], children=[s.process for s in servers])
        if topics:
            _drop_topics(project, topics)


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


AIEXEC = [sys.executable, "-m", "aiexec.cli.main"]
