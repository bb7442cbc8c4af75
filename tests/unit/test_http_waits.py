"""The HTTP layer's use of wait slots and the two faces of `/health`, without a stack.

Fakes stand in for Firestore and the ingest service, so the tests can tell what would have
been read or created: a refused wait creates no task, a resent id waits no second time, an
unauthenticated `/health` reads nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import flask
import pytest

from infra.settings import Settings
from shared.auth import Caller
from shared.http_api import HttpApi
from shared.ingest import Submission
from shared.request_guard import refuse
from shared.schemas import TaskRequest
from shared.waits import WaitSlots


class NoFirestore:
    """Any attribute access is a Firestore call the test did not expect."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Firestore touched: {name}")


class FakeStore:
    def __init__(self) -> None:
        self.client = NoFirestore()
        self.release = threading.Event()
        self.waiting = threading.Semaphore(0)
        self.waits = 0

    def wait_for_terminal(self, task_id: str, timeout_s: float) -> dict[str, Any] | None:
        self.waits += 1
        self.waiting.release()
        self.release.wait(timeout_s)
        return None


class FakeIngest:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.created: list[str] = []

    def parse(self, body: bytes) -> TaskRequest:
        return TaskRequest.model_validate_json(body)

    def submit(
        self,
        request: TaskRequest,
        client_id: str,
        budget: float | None,
        *,
        rate_per_s: float | None = None,
    ) -> Submission:
        task_id = request.task_id or f"auto-{len(self.created)}"
        self.created.append(task_id)
        return Submission({"task_id": task_id, "status": "queued"}, created=True)


class FakeAdmission:
    """`X-Client: <name>` is the caller; `X-Client: bad` an invalid key (401)."""

    def _caller(self, headers: Any) -> Caller:
        name = headers.get("X-Client") or "anonymous"
        if name == "bad":
            raise refuse(401, "invalid_api_key", "the API key is not valid")
        return Caller(name)

    authenticate = admit = _caller

    def may_read(self, caller: Caller, task: Any) -> bool:
        return True


@pytest.fixture
def served() -> Iterator[tuple[flask.testing.FlaskClient, FakeIngest, HttpApi]]:
    settings = Settings.model_construct(api_keys_required=True, sync_wait_s=30.0)
    ingest = FakeIngest()
    api = HttpApi(
        settings,
        ingest,  # type: ignore[arg-type]
        FakeAdmission(),  # type: ignore[arg-type]
        WaitSlots(per_client=1, per_instance=2),
    )
    app = flask.Flask("waits")
    app.add_url_rule(
        "/<path:path>", "all", lambda path: api.handle(flask.request), methods=["GET", "POST"]
    )
    app.add_url_rule("/", "root", lambda: api.handle(flask.request), methods=["POST"])
    yield app.test_client(), ingest, api
    ingest.store.release.set()


def _hold(
    client: flask.testing.FlaskClient, ingest: FakeIngest, path: str, who: str, task_id: str
) -> tuple[threading.Thread, list[Any]]:
    """A request that waits (in a thread) until the test releases it."""
    answers: list[Any] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            client.post(
                path,
                json={"task_description": "x", "task_id": task_id},
                headers={"X-Client": who},
            )
        )
    )
    thread.start()
    assert ingest.store.waiting.acquire(timeout=10), "the request never started waiting"
    return thread, answers


@pytest.mark.parametrize("path", ["/tasks?wait=30", "/"])
def test_beyond_the_cap_429_and_no_task_created(
    served: tuple[flask.testing.FlaskClient, FakeIngest, HttpApi], path: str
) -> None:
    client, ingest, api = served
    thread, answers = _hold(client, ingest, path, "alice", "one")
    refused = client.post(
        path, json={"task_description": "x", "task_id": "two"}, headers={"X-Client": "alice"}
    )
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_waits"
    assert int(refused.headers["Retry-After"]) >= 1
    assert ingest.created == ["one"]  # the refused request created nothing
    # A resend of the id alice is waiting for: answered at once, no second wait, no slot.
    resent = client.post(
        path, json={"task_description": "x", "task_id": "one"}, headers={"X-Client": "alice"}
    )
    assert resent.status_code == 202
    assert ingest.store.waits == 1 and api.waits.count("alice") == 1
    ingest.store.release.set()
    thread.join(10)
    assert answers[0].status_code == 202  # the wait ran out (the fake never finishes)
    assert api.waits.count() == 0


def test_the_instance_cap_spans_clients(
    served: tuple[flask.testing.FlaskClient, FakeIngest, HttpApi],
) -> None:
    client, ingest, _api = served
    held = [_hold(client, ingest, "/", who, f"t-{who}") for who in ("alice", "bob")]
    refused = client.post("/", json={"task_description": "x"}, headers={"X-Client": "carol"})
    assert refused.status_code == 429
    assert "this instance" in refused.get_json()["error"]["message"]
    immediate = client.post("/tasks", json={"task_description": "x"}, headers={"X-Client": "c"})
    assert immediate.status_code == 202  # no wait asked: never refused for waits
    health = client.get("/health")
    assert health.status_code == 200
    ingest.store.release.set()
    for thread, _answers in held:
        thread.join(10)


def test_health_without_a_key_is_minimal_and_reads_nothing(
    served: tuple[flask.testing.FlaskClient, FakeIngest, HttpApi],
) -> None:
    client, _ingest, api = served
    response = client.get("/health")  # NoFirestore would fail any read
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": api.settings.version}
    bad = client.get("/health", headers={"Authorization": "Bearer x", "X-Client": "bad"})
    assert bad.status_code == 401


def test_health_details_for_a_valid_key_or_without_keys(
    served: tuple[flask.testing.FlaskClient, FakeIngest, HttpApi],
) -> None:
    client, _ingest, api = served
    keyed = client.get("/health", headers={"Authorization": "Bearer k", "X-Client": "alice"})
    assert keyed.status_code == 200  # circuits unreadable here: "unknown", still 200
    body = keyed.get_json()
    assert {p["name"] for p in body["providers"]} == set(api.settings.providers)
    assert "model_warnings" in body
    api.settings = Settings.model_construct(api_keys_required=False)  # IAM-only deployment
    assert "providers" in client.get("/health").get_json()
