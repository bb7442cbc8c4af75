"""Hostile requests against a real ingest server (keys on): each gets its expected status and
error code as `{error: {code, message, field}}`, and none creates a task or publishes a message.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]
from google.cloud.firestore_v1.base_query import FieldFilter

from tests.security.conftest import Security, bearer

JSON = {"Content-Type": "application/json"}
CAP = 262_144  # AIEXEC_MAX_BODY_BYTES default
PROBE_DEADLINE_S = 20.0


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    status: int
    code: str
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    path: str = "/tasks"
    method: str = "POST"
    field: str | None = None


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _task(**extra: Any) -> bytes:
    return _json({"task_description": "hostile", "task_id": f"hostile-{uuid.uuid4().hex}"} | extra)


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 65_536):
        yield data[start : start + 65_536]


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


DEEP = b"[" * 100_000 + b"]" * 100_000
CASES = [
    # size, type and encoding of the body
    Case("over the cap (Content-Length)", b'{"task_description": "' + b"x" * CAP + b'"}', 413,
         "too_large"),
    Case("prompt over its limit", _task(task_description="x" * 100_001), 413, "too_large",
         field="task_description"),
    Case("text/plain", _task(), 415, "unsupported_media_type", {"Content-Type": "text/plain"}),
    Case("form encoded", b"task_description=x", 415, "unsupported_media_type",
         {"Content-Type": "application/x-www-form-urlencoded"}),
    Case("multipart", b"--b\r\n\r\nx\r\n--b--", 415, "unsupported_media_type",
         {"Content-Type": "multipart/form-data; boundary=b"}),
    Case("no content type on /tasks", _task(), 415, "unsupported_media_type", {}),
    Case("latin-1 charset", _task(), 415, "unsupported_media_type",
         {"Content-Type": "application/json; charset=latin-1"}),
    Case("gzip encoded", _task(), 415, "unsupported_encoding",
         {**JSON, "Content-Encoding": "gzip"}),
    Case("V2 route, text/plain", _task(), 415, "unsupported_media_type",
         {"Content-Type": "text/plain"}, path="/"),
    Case("invalid UTF-8", b'{"task_description": "caf\xe9"}', 400, "invalid_encoding"),
    Case("UTF-16 body", '{"task_description": "x"}'.encode("utf-16"), 400, "invalid_encoding"),
    Case("lone surrogate", b'{"task_description": "\\ud800 x"}', 400, "invalid_encoding",
         field="task_description"),
    Case("NUL character", b'{"task_description": "a\\u0000b"}', 400, "invalid_character",
         field="task_description"),
    # shape of the JSON
    Case("nesting bomb", DEEP, 400, "too_deep"),
    Case("nested metadata", _json({"task_description": "x", "metadata": _nest(20)}), 400,
         "too_deep"),
    Case("V2 route, nesting bomb", DEEP, 400, "too_deep", {}, path="/"),
    Case("field-count bomb", _task(metadata={f"k{i}": "v" for i in range(2_000)}), 400,
         "too_many_fields"),
    Case("list bomb", _task(providers=["openai"] * 10_000), 400, "too_many_fields"),
    Case("duplicate field", b'{"task_description": "a", "task_description": "b"}', 400,
         "duplicate_field", field="task_description"),
    Case("invalid JSON", b'{"task_description": ', 400, "invalid_json"),
    Case("empty body", b"", 400, "invalid_json"),
    Case("not an object", _json("task_description"), 400, "invalid_field"),
    # identity and ids
    Case("client_id in the body", _task(client_id="someone-else"), 400, "unknown_field",
         field="client_id"),
    Case("__proto__ key", _task(__proto__={"admin": "true"}), 400, "unknown_field",
         field="__proto__"),
    Case("task_id with a slash", _task(task_id="a/b"), 400, "invalid_field", field="task_id"),
    Case("task_id ..", _task(task_id=".."), 400, "invalid_field", field="task_id"),
    Case("task_id traversal", _task(task_id="x..y"), 400, "invalid_field", field="task_id"),
    Case("task_id too long", _task(task_id="a" * 129), 400, "invalid_field", field="task_id"),
    Case("task_id reserved by Firestore", _task(task_id="__name__"), 400, "invalid_field",
         field="task_id"),
    Case("task_id not ASCII", _task(task_id="tâche"), 400, "invalid_field", field="task_id"),
    # bounded fields
    Case("too many metadata entries", _task(metadata={f"k{i}": "v" for i in range(33)}), 400,
         "invalid_field", field="metadata"),
    Case("metadata value too long", _task(metadata={"k": "v" * 513}), 400, "invalid_field",
         field="metadata"),
    Case("metadata not strings", _task(metadata={"k": 1}), 400, "invalid_field",
         field="metadata.k"),
    Case("wait too long", _task(), 400, "invalid_field", path="/tasks?wait=100000",
         field="wait"),
    # reading
    Case("GET traversal", b"", 404, "not_found", {}, path="/tasks/..%2F..%2Fetc%2Fpasswd",
         method="GET"),
]  # fmt: skip


@pytest.fixture(scope="module")
def probe_subscription(security: Security) -> Iterator[tuple[Any, str]]:
    """A pull subscription on the first provider's topic: sees every task ingest publishes."""
    subscriber = pubsub_v1.SubscriberClient()
    project = security.settings.project_id
    first = security.settings.provider_topic(security.settings.providers[0])
    name = subscriber.subscription_path(project, f"security-probe-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(
        request={"name": name, "topic": f"projects/{project}/topics/{first}"}
    )
    try:
        yield subscriber, name
    finally:
        subscriber.delete_subscription(request={"subscription": name})
        subscriber.close()


def _send(security: Security, key: str, case: Case) -> httpx.Response:
    headers = case.headers | bearer(key)
    # The over-the-cap body also goes chunked (no Content-Length) in its own test below.
    return httpx.request(
        case.method, security.b.url + case.path, content=case.body or None,
        headers=headers, timeout=60, trust_env=False,
    )  # fmt: skip


def _published_task_ids(subscriber: Any, name: str, want: str) -> list[str]:
    """Task ids published since the subscription was made, pulled until `want` shows up."""
    seen: list[str] = []
    deadline = time.monotonic() + PROBE_DEADLINE_S
    while want not in seen and time.monotonic() < deadline:
        try:
            response = subscriber.pull(
                request={"subscription": name, "max_messages": 100}, timeout=2
            )
        except gexc.DeadlineExceeded:
            continue
        ack_ids = [m.ack_id for m in response.received_messages]
        for message in response.received_messages:  # document ids (keys on: client~task_id)
            data = json.loads(message.message.data)
            seen.append(data.get("doc_id") or data["task_id"])
        if ack_ids:
            subscriber.acknowledge(request={"subscription": name, "ack_ids": ack_ids})
    return seen


def test_there_are_enough_hostile_cases() -> None:
    assert len(CASES) >= 25
    assert len({case.name for case in CASES}) == len(CASES)


def test_hostile_requests_are_refused_and_leave_no_trace(
    security: Security, probe_subscription: tuple[Any, str]
) -> None:
    key, client_id = security.key("hostile", rate="1000/s", burst=1000)
    failures = []
    for case in CASES:
        response = _send(security, key, case)
        try:
            error = response.json()["error"]
            got = (response.status_code, error["code"], error["field"])
            assert set(error) == {"code", "message", "field"} and error["message"]
        except (ValueError, KeyError, AssertionError):
            got = (response.status_code, f"not a JSON error: {response.text[:80]!r}", None)
        expected = (case.status, case.code, case.field)
        if got != expected and not (case.field is None and got[:2] == expected[:2]):
            failures.append(f"{case.name}: expected {expected}, got {got}")
    assert not failures, "\n".join(failures)

    # A control request from the same client proves the probes can see a task and a message.
    control = httpx.post(
        security.b.url + "/tasks", json={"task_description": "control"}, headers=bearer(key),
        timeout=60, trust_env=False,
    )  # fmt: skip
    assert control.status_code == 202, control.text
    control_id = security.doc(client_id, control.json()["task_id"])
    tasks = security.store.client.collection(security.settings.collection_tasks)
    mine = [s.id for s in tasks.where(filter=FieldFilter("client_id", "==", client_id)).stream()]
    assert mine == [control_id]
    subscriber, name = probe_subscription
    published = _published_task_ids(subscriber, name, control_id)
    assert control_id in published
    owners = {doc_id: (security.store.get(doc_id) or {}).get("client_id") for doc_id in published}
    assert [t for t, owner in owners.items() if owner == client_id] == [control_id]


def test_a_chunked_body_over_the_cap_is_cut_off(security: Security) -> None:
    key, _ = security.key("chunked", rate="100/s", burst=100)
    body = b'{"task_description": "' + b"x" * (2 * CAP) + b'"}'
    response = httpx.post(
        security.a.url + "/tasks", content=_chunks(body), headers=JSON | bearer(key),
        timeout=60, trust_env=False,
    )  # fmt: skip
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_v2_client_may_omit_the_content_type(security: Security) -> None:
    key, _ = security.key("v2", rate="100/s", burst=100)
    response = httpx.post(
        security.a.url + "/", content=_json({"task_description": "Hello from an old client"}),
        headers=bearer(key), timeout=180, trust_env=False,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "task_executed_with_ai"
