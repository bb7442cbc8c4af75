"""Issue 13, finding 4 (wait exhaustion), on the live stack in keys-required mode.

The attack: one client holds requests open with `?wait=N` and V2 `POST /` on tasks that do not
finish, until the instance has no request thread left and `/health` (and everyone else) waits
in the accept queue; resending the same id and body waits again for one rate token.

Here an ingest instance of our own runs with THREADS=8 (so at most 6 waits: a quarter of the
threads, at least 2, stays free) and AIEXEC_MAX_WAITS_PER_CLIENT=2. Its tasks are published to
provider queues no worker reads (a topic prefix of its own), standing in for a provider that is
slow for as long as a wait lasts: the held requests stay held for the whole test, whatever the
machine's speed. Nothing here asserts a duration.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

from infra.localstack.procs import stop_groups
from tests.security.conftest import Security, Server, _start, _wait_ready, bearer

THREADS = 8  # -> 6 waits per instance (shared/waits.py: instance_cap)
PER_CLIENT = 2
HOLD_S = 30  # how long a held request waits (the tasks never finish)
READY_S = 30.0


@dataclass(frozen=True)
class Waiting:
    server: Server
    pool: ThreadPoolExecutor


@pytest.fixture(scope="module")
def waiting(security: Security, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Waiting]:
    project = security.settings.project_id
    prefix = f"abuse-{uuid.uuid4().hex[:8]}-"
    publisher = pubsub_v1.PublisherClient()
    topics = [publisher.topic_path(project, prefix + p) for p in security.settings.providers]
    for topic in topics:  # queues without a subscriber: these tasks stay queued
        publisher.create_topic(request={"name": topic})
    extra = {
        "THREADS": str(THREADS),
        "AIEXEC_MAX_WAITS_PER_CLIENT": str(PER_CLIENT),
        "AIEXEC_TOPIC_PREFIX": prefix,
        "AIEXEC_SYNC_WAIT_S": str(HOLD_S),
        "AIEXEC_WAIT_MAX_S": str(HOLD_S),
    }
    server = _start(security.stack, "waits", Path(tmp_path_factory.mktemp("waits")), extra)
    pool = ThreadPoolExecutor(max_workers=16)
    try:
        _wait_ready([server])
        yield Waiting(server, pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        stop_groups([server.process.pid], children=[server.process])
        for topic in topics:
            publisher.delete_topic(request={"topic": topic})


def _send(url: str, key: str, path: str, task_id: str) -> httpx.Response:
    body = {"task_description": "a slow one", "task_id": task_id}
    return httpx.post(url + path, json=body, headers=bearer(key), timeout=HOLD_S + 30)


def _hold(waiting: Waiting, key: str, path: str, task_id: str) -> Future[httpx.Response]:
    """A request that waits on the server: sent, and seen to have created its task (a slot is
    taken before the task exists, so from then on it is held)."""
    url = waiting.server.url
    held = waiting.pool.submit(_send, url, key, path, task_id)
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        assert not held.done(), held.result().text  # it must be waiting, not answered
        seen = httpx.get(f"{url}/tasks/{task_id}", headers=bearer(key), timeout=10)
        if seen.status_code == 200:
            return held
        time.sleep(0.05)  # the task appears once ingest created it
    raise AssertionError(f"{task_id} was never created")


def _refused(response: httpx.Response) -> str:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "too_many_waits"
    assert int(response.headers["Retry-After"]) >= 1
    message: str = response.json()["error"]["message"]
    return message


def test_waits_are_capped_per_client_and_per_instance_and_health_answers(
    security: Security, waiting: Waiting
) -> None:
    url = waiting.server.url
    alice, bob, carol, dave = (security.key(n, rate="100/s")[0] for n in ("alice", "b", "c", "d"))
    ids = {name: f"wait-{name}-{uuid.uuid4().hex[:8]}" for name in ("a1", "a2", "a3", "d1")}

    # One client, V2 calls on tasks that do not finish: two are held, the third is refused.
    held = [_hold(waiting, alice, "/", ids["a1"]), _hold(waiting, alice, "/", ids["a2"])]
    assert "AIEXEC_MAX_WAITS_PER_CLIENT" in _refused(_send(url, alice, "/", ids["a3"]))
    _refused(_send(url, alice, "/tasks?wait=20", ids["a3"]))
    missing = httpx.get(f"{url}/tasks/{ids['a3']}", headers=bearer(alice), timeout=10)
    assert missing.status_code == 404  # refused before any task existed

    # The same id and body again, while its first request waits: answered at once, no slot.
    resent = _send(url, alice, "/", ids["a1"])
    assert resent.status_code == 202, resent.text
    assert (resent.json()["status"], resent.json()["request_id"]) == ("task_pending", ids["a1"])
    assert not held[0].done()  # the first request still holds the wait
    _refused(_send(url, alice, "/", ids["a3"]))  # and alice still has exactly her two

    # Other clients fill the instance's share of threads; then nobody else may wait ...
    for key in (bob, carol):
        held += [_hold(waiting, key, "/tasks?wait=25", f"wait-{uuid.uuid4().hex}") for _ in "xy"]
    assert len(held) == THREADS - 2
    assert "this instance" in _refused(_send(url, dave, "/", ids["d1"]))

    # ... while everything that does not wait is still served: the threads it needs are free.
    started = time.monotonic()
    health = httpx.get(f"{url}/health", timeout=10)
    took_ms = (time.monotonic() - started) * 1000
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": security.settings.version}  # no key
    detailed = httpx.get(f"{url}/health", headers=bearer(dave), timeout=10)
    assert detailed.status_code == 200 and "providers" in detailed.json()
    accepted = _send(url, dave, "/tasks", ids["d1"])  # no wait asked
    assert accepted.status_code == 202, accepted.text
    assert not any(request.done() for request in held)  # all six still held meanwhile
    print(f"/health with {len(held)} waits held: {took_ms:.0f} ms")  # for the report, no bound

    for request in held:  # the waits run out; the answers say where to read the task
        assert request.result().status_code == 202
    after = _send(url, dave, "/tasks?wait=1", f"wait-{uuid.uuid4().hex}")
    assert after.status_code == 202  # slots came back
