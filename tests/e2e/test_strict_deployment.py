"""A second deployment on the session's emulators and simulator, configured where the session
stack is not: callbacks as in production (local and private addresses refused) and a slow
first provider (openai's timeout 20 s, vertex's the test stack's 3 s). Its own project id, so
its topics, subscriptions and documents are apart (the way tests/chaos starts a third
provider's functions).

* A `callback_url` to a private address published on its `tasks` topic is rejected, the field
  named, and nothing runs.
* A deadline shorter than openai's retries (20 s x attempts) but long enough for vertex's:
  openai is skipped (an attempt `deadline`, no call) and vertex answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.localstack import LocalStack, StackError, free_port_settings
from infra.localstack.ports import SERVICE_PORTS, port_uses
from infra.settings import Settings
from shared.bus import Bus
from shared.store import TaskStore
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import WAIT_S, Pipeline, unique

SLOW_OPENAI_S = 20.0


@pytest.fixture(scope="module")
def strict(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    session: Settings = stack.settings
    fresh = free_port_settings(session)
    own_ports = {u.setting.split(" ")[0] for u in port_uses(fresh)} - set(SERVICE_PORTS)
    settings = session.model_copy(
        update={
            "project_id": f"{session.project_id}-strict",
            "ingest_url": fresh.ingest_url,
            **{name: getattr(fresh, name) for name in own_ports},
            "callback_allow_private": False,  # set explicitly: wins over the local default
            "openai_timeout_s": SLOW_OPENAI_S,
        }
    )
    assert session.providers[:2] == ["openai", "vertex"]
    local = LocalStack(
        settings, tmp_path_factory.mktemp("aiexec-strict"), REPO_ROOT, functions_only=True
    )
    try:
        local.start()
    except StackError as exc:
        pytest.fail(f"the strict deployment did not start:\n{exc}", pytrace=False)
    try:
        yield settings
    finally:
        local.stop()


def publish(settings: Settings, body: dict[str, Any]) -> None:
    Bus(settings).publish(settings.topic_tasks, json.dumps(body).encode())


def test_a_private_callback_published_in_production_mode_is_rejected(
    strict: Settings, pipeline: Pipeline
) -> None:
    store = TaskStore(strict)
    calls = {p: pipeline.calls(p) for p in strict.providers}
    for url in ("https://127.0.0.1/hook", "https://10.0.0.8/hook", "http://example.com/hook"):
        task_id = unique("strict-cb")
        publish(strict, {"task_id": task_id, "task_description": "hi", "callback_url": url})
        task = store.wait_for_terminal(task_id, WAIT_S)
        assert task is not None, f"{url}: no task recorded"
        assert task["status"] == "rejected", (url, task)
        assert task["error"]["field"] == "callback_url", (url, task["error"])
        assert task.get("attempts", []) == []
    assert {p: pipeline.calls(p) for p in strict.providers} == calls  # nothing ran


def test_a_provider_that_cannot_finish_before_the_deadline_is_skipped(
    strict: Settings, pipeline: Pipeline
) -> None:
    first, second = strict.providers[:2]
    attempts = strict.provider_attempts
    assert strict.timeout_for(first) * attempts > 30 > strict.timeout_for(second) * attempts
    first_calls = pipeline.calls(first)
    task_id = unique("strict-deadline")
    publish(strict, {"task_id": task_id, "task_description": "hi", "deadline_s": 30})
    task = TaskStore(strict).wait_for_terminal(task_id, WAIT_S)
    assert task is not None
    assert (task["status"], task["result"]["provider"]) == ("succeeded", second), task
    outcomes = [(a["provider"], a["outcome"]) for a in task["attempts"]]
    assert outcomes[0] == (first, "deadline") and outcomes[-1][0] == second, outcomes
    assert [p for p, _ in outcomes] == [first, second]
    assert pipeline.calls(first) == first_calls  # skipped: never called
