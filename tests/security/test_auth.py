"""API keys on real ingest servers: missing, wrong and revoked keys, other clients' tasks."""

from __future__ import annotations

import functools
import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from shared.auth import KEY_PREFIX
from tests.security.conftest import (
    AIEXEC,
    HEALTH_SECRETS,
    KEY_CACHE_S,
    Security,
    bearer,
    cli_env,
    post_task,
)

DEADLINE_S = 10.0
TASK = {"task_description": "Summarise the security model"}


def _problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/tasks", TASK), ("GET", "/tasks/some-task", None), ("POST", "/", TASK)],
)
def test_protected_routes_need_a_key(
    security: Security, method: str, path: str, body: object
) -> None:
    response = httpx.request(method, security.a.url + path, json=body, trust_env=False)
    assert _problem(response) == (401, "missing_api_key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"}
    assert "Authorization: Bearer" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY_PREFIX}{secrets.token_urlsafe(32)}"},  # well-formed
        {"X-API-Key": f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},  # not a bearer key: none presented
    ],
    ids=["unknown-bearer", "unknown-x-api-key", "malformed", "basic-auth"],
)
def test_wrong_keys_are_refused(security: Security, headers: dict[str, str]) -> None:
    response = post_task(security.a.url, None, TASK, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("invalid_api_key", "missing_api_key")


def test_a_key_names_the_client_of_its_tasks(security: Security) -> None:
    key, client_id = security.key()
    by_bearer = post_task(security.a.url, key, TASK)
    by_header = post_task(security.b.url, None, TASK, headers={"X-API-Key": key})
    for response in (by_bearer, by_header):
        assert response.status_code == 202, response.text
        task = security.task(client_id, response.json()["task_id"])
        assert task is not None
        assert task["client_id"] == client_id
    # The body cannot choose the client.
    spoof = post_task(security.a.url, key, TASK | {"client_id": "someone-else"})
    assert _problem(spoof) == (400, "unknown_field")


def test_open_routes_need_no_key(security: Security) -> None:
    assert httpx.get(security.a.url + "/health", trust_env=False).status_code == 200
    assert httpx.get(security.a.url + "/openapi.json", trust_env=False).status_code == 200


def test_a_caller_reads_only_its_own_tasks(security: Security) -> None:
    owner_key, _ = security.key("owner")
    other_key, _ = security.key("other")
    task_id = f"own-{uuid.uuid4().hex}"
    created = post_task(security.a.url, owner_key, TASK | {"task_id": task_id})
    assert created.status_code == 202, created.text

    own = httpx.get(f"{security.b.url}/tasks/{task_id}", headers=bearer(owner_key))
    assert own.status_code == 200
    assert own.json()["task_id"] == task_id
    theirs = httpx.get(f"{security.b.url}/tasks/{task_id}", headers=bearer(other_key))
    missing = httpx.get(f"{security.b.url}/tasks/no-such-{task_id}", headers=bearer(other_key))
    # Another client's task looks exactly like a task that does not exist: 404, same shape.
    assert _problem(theirs) == _problem(missing) == (404, "not_found")
    assert theirs.json()["error"]["message"] == f"no task {task_id}"


def test_tasks_published_on_the_topic_belong_to_the_attribute_client(
    security: Security,
) -> None:
    key, client_id = security.key("pubsub")
    task_id = f"topic-{uuid.uuid4().hex}"
    # The keyed Pub/Sub door's shared topic (its `tasks`): the attribute names the client.
    security.publish(security.topic, TASK | {"task_id": task_id}, client_id=client_id)
    task = security.wait(client_id, task_id, 30)
    assert task is not None
    assert task["client_id"] == client_id
    response = httpx.get(f"{security.a.url}/tasks/{task_id}", headers=bearer(key))
    assert response.status_code == 200


def _until(deadline_s: float, check: Callable[[], httpx.Response]) -> httpx.Response:
    """Call `check()` until it returns a response that is not 202 (bounded)."""
    deadline = time.monotonic() + deadline_s
    while True:
        response = check()
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(KEY_CACHE_S / 5)


def test_a_revoked_key_is_refused_with_403(security: Security) -> None:
    key, _ = security.key("revoked")
    assert post_task(security.a.url, key, TASK).status_code == 202
    assert security.keys.revoke(key=key)
    # Each instance trusts its cached lookup for AIEXEC_API_KEY_CACHE_S: poll past it.
    for server in (security.a, security.b):
        response = _until(DEADLINE_S, functools.partial(post_task, server.url, key, TASK))
        assert _problem(response) == (403, "api_key_revoked")


def test_keys_cli_shows_a_key_once_and_stores_only_its_hash(security: Security) -> None:
    env = cli_env(security)
    client_id = f"cli-{uuid.uuid4().hex[:8]}"
    created = subprocess.run(
        [*AIEXEC, "keys", "create", "--client", client_id, "--rate", "5/s", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    made = json.loads(created.stdout)
    key, key_id = made["key"], made["key_id"]
    assert post_task(security.b.url, key, TASK).status_code == 202

    listed = subprocess.run(
        [*AIEXEC, "keys", "list", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert key not in listed.stdout
    row = next(r for r in json.loads(listed.stdout) if r["key_id"] == key_id)
    assert (row["client_id"], row["status"], row["rate"]) == (client_id, "active", "5/s")
    stored = [s.to_dict() for s in security.keys.collection().stream()]
    assert all(key not in json.dumps(doc, default=str) for doc in stored)
    assert all(key not in s.id for s in security.keys.collection().stream())

    revoked = subprocess.run(
        [*AIEXEC, "keys", "revoke", key_id],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert key_id in revoked.stdout
    response = _until(DEADLINE_S, lambda: post_task(security.b.url, key, TASK))
    assert _problem(response) == (403, "api_key_revoked")


def test_health_shows_no_secrets(security: Security) -> None:
    key, _ = security.key("health")
    response = httpx.get(security.a.url + "/health", headers=bearer(key), trust_env=False)
    assert response.status_code == 200
    text = response.text
    for value in (*HEALTH_SECRETS.values(), "apiuser", "s3cret-pass", "secret-token"):
        assert value not in text
    assert "://" not in text  # no endpoint URLs at all
    openai = next(p for p in response.json()["providers"] if p["name"] == "openai")
    assert openai["configured"] is True
    assert "circuit" in openai


def test_health_without_a_key_is_minimal(security: Security) -> None:
    """Keys required: an unauthenticated caller learns that ingest answers and its version,
    nothing about providers or circuits (and costs no Firestore read); a bad key is refused."""
    anonymous = httpx.get(security.a.url + "/health", trust_env=False)
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "ok", "version": security.settings.version}
    wrong = httpx.get(
        security.a.url + "/health", headers=bearer("aiexec_" + "B" * 43), trust_env=False
    )
    assert _problem(wrong) == (401, "invalid_api_key")


def test_prompts_are_not_logged(security: Security) -> None:
    key, _ = security.key("logs")
    marker = f"confidential-prompt-{uuid.uuid4().hex}"
    assert post_task(security.a.url, key, {"task_description": marker}).status_code == 202
    refused = post_task(security.a.url, key, {"task_description": marker, "bad": 1})
    assert refused.status_code == 400
    assert marker not in refused.text
    assert marker not in security.a.log.read_text(errors="replace")


def test_status_sends_the_api_key_to_health(
    security: Security, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`aiexec status` with `$AIEXEC_API_KEY` sees the providers /health shows to a key holder;
    without it, only what an anonymous caller may see."""
    from aiexec.cli.operations import ingest_health

    settings = security.settings.model_copy(update={"ingest_url": security.a.url})
    monkeypatch.delenv("AIEXEC_API_KEY", raising=False)
    anonymous = ingest_health(settings)
    assert anonymous["answers"] is True and "providers" not in anonymous
    key, _ = security.key("status")
    monkeypatch.setenv("AIEXEC_API_KEY", key)
    keyed = ingest_health(settings)
    assert keyed["answers"] is True
    assert {p["name"] for p in keyed["providers"]} >= {"openai"}
