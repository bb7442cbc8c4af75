"""Issue 13, findings 3 (free-form models reach arbitrary resources) and 9 (raw provider error
texts returned to clients), on the live stack in keys-required mode.

The attacks: name another publisher's model, a private endpoint or a partner model by resource
path, long Unicode names that would become rollup map keys; read back a failed task for the
provider's own error text. Now every such name is refused at ingest before a task exists or a
provider is called, and a failed task says a code and a fixed sentence.
"""

from __future__ import annotations

import time

import httpx

from infra.simulator.client import SimulatorClient
from shared.error_summaries import SUMMARIES
from tests.security.conftest import Security, bearer, post_task

NAMES = [
    {"vertex": "nobody/x"},
    {"vertex": "projects/victim-project/locations/us-central1/endpoints/1234567890"},
    {"vertex": "publishers/anthropic/models/claude-x"},
    {"openai": "ft:gpt-6-luna:someone-elses-org::abc123"},
    {"openai": "\u00e9\u0301" * 64},  # 128 characters of combining Unicode
    {"openai": "gpt-6.1-terra\u001b]8;;http://evil.example/\u0007"},  # terminal escapes
]


def test_models_outside_the_allowlist_never_reach_a_provider(security: Security) -> None:
    key, _client = security.key("models", rate="1000/s", burst=1000)
    sim = SimulatorClient(security.stack.simulator_url)
    before = sim.stats()
    for model in NAMES:
        for path in ("/tasks", "/"):
            response = httpx.post(
                security.a.url + path,
                json={"task_description": "hi", "model": model},
                headers=bearer(key),
                timeout=30,
            )
            provider = next(iter(model))
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert (error["code"], error["field"]) == ("model_not_allowed", f"model.{provider}")
    after = sim.stats()
    assert {p: after[p]["calls"] for p in after} == {p: before[p]["calls"] for p in before}


def test_a_failed_task_shows_summaries_not_provider_texts(security: Security) -> None:
    key, _client = security.key("texts")
    SimulatorClient(security.stack.simulator_url).set_fault("openai", "auth")
    response = post_task(security.a.url, key, {"task_description": "[sim:invalid] hi"})
    assert response.status_code == 202, response.text
    read = _until_terminal(f"{security.b.url}/tasks/{response.json()['task_id']}", key)
    task = read.json()
    assert task["status"] == "failed", task
    assert "Incorrect API key" not in read.text and "simulated" not in read.text
    messages = [a["error"]["message"] for a in task["attempts"]]
    assert messages and all(message in SUMMARIES.values() for message in messages)


def _until_terminal(url: str, key: str, timeout_s: float = 60.0) -> httpx.Response:
    """GET the task until it is terminal (a client without Firestore access polls)."""
    deadline = time.monotonic() + timeout_s
    while True:
        read = httpx.get(url, headers=bearer(key), timeout=10)
        if read.json().get("status") in ("succeeded", "failed") or time.monotonic() > deadline:
            return read
        time.sleep(0.2)
