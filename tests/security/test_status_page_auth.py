"""The status page behind API keys (real ingest servers, keys required): no key, an unknown or a
revoked key is refused as by the API; a client's page shows its own cost and slow tasks, never
another client's."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.status_page import CSP
from tests.security.conftest import Security, bearer, post_task

WAIT_S = 30.0


def _status(security: Security, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{security.a.url}/status", headers=headers, timeout=30, trust_env=False)


def test_the_page_needs_a_valid_key(security: Security) -> None:
    missing = _status(security)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    unknown = _status(security, bearer("aiexec_" + "x" * 40))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (401, "invalid_api_key")
    key, client_id = security.key("status-revoked")
    security.keys.revoke_client(client_id)
    deadline = time.monotonic() + WAIT_S  # each server caches a key for KEY_CACHE_S
    while (revoked := _status(security, bearer(key))).status_code != 403:
        assert time.monotonic() < deadline, revoked.text
    assert revoked.json()["error"]["code"] == "api_key_revoked"


def _cost_today(security: Security, client_id: str) -> float:
    usage = security.store.client.collection(security.settings.collection_usage)
    today = datetime.now(UTC).date()
    return sum(
        float(doc.get("cost_usd") or 0)
        for doc in (snap.to_dict() or {} for snap in usage.stream())
        if doc.get("client_id") == client_id and doc["created_at"].date() == today
    )


def _run(security: Security, key: str, client_id: str, task_id: str) -> dict[str, Any]:
    response = post_task(security.a.url, key, {"task_description": "status", "task_id": task_id})
    assert response.status_code == 202, response.text
    task = security.wait(client_id, task_id, WAIT_S)
    assert task is not None and task["status"] == "succeeded", task
    return task


def test_a_client_sees_its_own_cost_and_tasks_only(security: Security) -> None:
    assert security.settings.report_timezone == "UTC"  # "today" below is the page's day
    mine, me = security.key("status-me")
    theirs, them = security.key("status-them")
    _run(security, mine, me, "status-mine")
    _run(security, theirs, them, "status-theirs")

    page = _status(security, bearer(mine))
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    html = page.text
    assert them not in html and "status-theirs" not in html
    listed = set(re.findall(r'data-task-id="([^"]*)"', html))
    assert listed <= {"status-mine"}, listed
    shown = re.search(r'id="cost-today">\$([0-9.,]+)<', html)
    assert shown is not None
    assert abs(float(shown.group(1).replace(",", "")) - _cost_today(security, me)) <= 1e-6
