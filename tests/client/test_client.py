"""The Python client against the session stack: submit, wait, get, list, export, batches."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aiexec.client import (
    AIExecClient,
    RequestRefusedError,
    ServiceUnreachableError,
    TaskValidationError,
    write_results,
)
from infra.simulator.client import SimulatorClient
from tests.client.helpers import unique

WAIT_S = 60.0


def test_submit_over_http_then_wait_with_a_listener(client: AIExecClient) -> None:
    sent = client.submit(
        {"task_description": "Summarize the CAP theorem", "metadata": {"team": "docs"}}
    )
    assert sent.via == "http" and sent.status == "queued" and sent.status_url
    task = client.wait(sent.task_id, WAIT_S)
    assert task is not None and task.succeeded, task
    assert task.text and task.result and task.result["provider"] == "openai"
    assert task.usage["total_tokens"] > 0 and len(task.attempts) == 1
    assert task.document["request"]["metadata"] == {"team": "docs"}
    over_http = client.get(sent.task_id, via="http")
    assert over_http is not None and over_http.text == task.text
    assert over_http.created_at == task.created_at  # ISO strings read back as datetimes


def test_submit_by_publishing_to_the_tasks_topic(client: AIExecClient) -> None:
    task_id = unique("client-pubsub")
    sent = client.submit({"task_description": "Write a haiku", "task_id": task_id}, via="pubsub")
    assert (sent.task_id, sent.status, sent.via) == (task_id, "published", "pubsub")
    task = client.wait(task_id, WAIT_S)
    assert task is not None and task.succeeded
    assert task.document["client_id"] == "tests"  # the message attribute


def test_submit_and_wait_in_one_call(client: AIExecClient) -> None:
    sent = client.submit({"task_description": "Hello", "task_type": "creative"}, wait_s=WAIT_S)
    assert sent.status == "succeeded" and sent.task is not None and sent.task.text


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"task_description": ""}, "task_description", 400),
        ({"task_description": "x", "colour": "red"}, "colour", 400),
        ({"task_description": "x", "temperature": "hot"}, "temperature", 400),
        ({"task_description": "x", "task_id": "../etc"}, "task_id", 400),
        ({"task_description": "x" * 300_000}, None, 413),
        ({"prompt": "V3?"}, "task_description", 400),
    ],
)
def test_invalid_tasks_are_refused_before_sending(
    stack: Any, body: dict[str, Any], field: str | None, status: int
) -> None:
    # An unreachable ingest URL proves nothing is sent: validation answers first.
    offline = AIExecClient(stack.settings, ingest_url="http://127.0.0.1:9", retries=0)
    with pytest.raises(TaskValidationError) as refused:
        offline.submit(body)
    assert refused.value.problem.field == field and refused.value.status == status
    # ... and the server says the same about the same body.
    answer = httpx.post(f"{stack.ingest_url}/tasks", json=body, timeout=30)
    assert answer.status_code == status
    assert answer.json()["error"] == refused.value.problem.model_dump()


def test_server_refusals_and_an_unreachable_ingest_are_typed(
    client: AIExecClient, stack: Any
) -> None:
    task_id = unique("client-conflict")
    client.submit({"task_description": "first", "task_id": task_id})
    with pytest.raises(RequestRefusedError) as conflict:
        client.submit({"task_description": "second", "task_id": task_id})
    assert conflict.value.status == 409 and conflict.value.problem.code == "task_id_conflict"
    offline = AIExecClient(stack.settings, ingest_url="http://127.0.0.1:9", retries=1)
    with pytest.raises(ServiceUnreachableError):
        offline.submit({"task_description": "nobody listens"})


def test_bearer_key_is_sent_when_configured(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIEXEC_API_KEY", "k-123")
    assert AIExecClient(stack.settings).http.headers["Authorization"] == "Bearer k-123"
    monkeypatch.delenv("AIEXEC_API_KEY")
    assert "Authorization" not in AIExecClient(stack.settings).http.headers


def test_list_by_status_and_time_and_export(client: AIExecClient, stack: Any) -> None:
    began = datetime.now(UTC) - timedelta(seconds=5)  # the emulator's clock is this machine's
    ok_id, failed_id = unique("client-ok"), unique("client-failed")
    client.submit({"task_description": "fine", "task_id": ok_id})
    assert (task := client.wait(ok_id, WAIT_S)) and task.succeeded
    all_providers_down(stack)
    client.submit({"task_description": "doomed", "task_id": failed_id})
    assert (task := client.wait(failed_id, WAIT_S)) and task.status == "failed"

    failed = client.list_tasks(status="failed", since=began)
    assert failed_id in {t.task_id for t in failed} and ok_id not in {t.task_id for t in failed}
    recent = client.list_tasks(since=began, limit=0)
    created = [t.created_at for t in recent if t.created_at is not None]
    assert len(created) == len(recent) and created == sorted(created, reverse=True)  # newest 1st
    assert {ok_id, failed_id} <= {t.task_id for t in recent}
    assert len(client.list_tasks(since=began, limit=1)) == 1

    results = list(client.iter_results(since=began))
    assert {ok_id, failed_id} <= {t.task_id for t in results}
    out = io.StringIO()
    assert write_results(results, out, "jsonl") == len(results)
    rows = {row["task_id"]: row for row in map(json.loads, out.getvalue().splitlines())}
    assert rows[ok_id]["status"] == "succeeded" and rows[ok_id]["text"]
    assert rows[failed_id]["error_code"] and rows[failed_id]["attempts"] == 2
    counts = client.counts()
    assert counts["succeeded"] >= 1 and counts["failed"] >= 1


def all_providers_down(stack: Any) -> None:
    simulator = SimulatorClient(stack.simulator_url)
    for provider in stack.settings.providers:
        simulator.set_fault(provider, "down")


def test_iterating_pages_returns_every_task_once(client: AIExecClient) -> None:
    from aiexec.client.queries import iter_documents

    began = datetime.now(UTC) - timedelta(seconds=5)
    ids = {unique("client-page") for _ in range(7)}
    summary = client.submit_many([{"task_description": "page", "task_id": i} for i in ids])
    assert summary.accepted == 7
    collection = client.store.client.collection(client.settings.collection_tasks)
    pages = iter_documents(
        collection, statuses=[], since=began, until=None, field="created_at",
        newest_first=False, limit=None, page_size=2,
    )  # fmt: skip
    seen = [doc["task_id"] for doc in pages]
    assert ids <= set(seen) and len(seen) == len(set(seen))


def test_submit_many_reports_each_task(client: AIExecClient) -> None:
    taken = unique("client-taken")
    client.submit({"task_description": "first", "task_id": taken})
    requests: list[dict[str, Any]] = [{"task_description": f"batch {n}"} for n in range(20)]
    requests += [{"task_description": "other", "task_id": taken}, {"task_description": ""}]
    seen: list[int] = []
    summary = client.submit_many(requests, concurrency=8, on_item=lambda item: seen.append(1))
    assert (summary.accepted, summary.refused, summary.invalid) == (20, 1, 1)
    assert [item.index for item in summary.items] == list(range(22))
    assert summary.items[20].http_status == 409 and len(seen) == 22
    done = client.wait_many(summary.task_ids, WAIT_S)
    assert all(task is not None and task.succeeded for task in done.values())
