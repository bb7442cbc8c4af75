"""One trace per task on the real stack (issue 18): a task that falls back (OpenAI down) is one
trace, ingest → worker-openai (its calls failing) → worker-vertex (ok) → completion, as the
stack's collector holds it and `aiexec trace` prints it; its log lines name the trace; a task
the sweeper re-publishes stays in its trace."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from aiexec.cli.main import main
from aiexec.cli.traces import fetch_spans
from aiexec.cli.webhook_receiver import Receiver
from aiexec.client import AIExecClient
from infra.settings import get_settings
from infra.trace_tree import children_of
from shared import tracing
from shared.bus import Bus
from shared.clock import utcnow
from shared.structured_logs import TRACE_FIELD
from shared.sweeper import Sweeper
from tests.e2e.conftest import Pipeline, unique

WAIT_S = 30.0


def only(spans: list[dict[str, Any]], name: str, parent: dict[str, Any]) -> dict[str, Any]:
    """The one span called `name` under `parent`."""
    found = [s for s in spans if s["name"] == name and s["parent_span_id"] == parent["span_id"]]
    assert len(found) == 1, f"{len(found)} spans {name} under {parent['name']}: {spans}"
    return found[0]


def under(spans: list[dict[str, Any]], name: str, parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in spans if s["name"] == name and s["parent_span_id"] == parent["span_id"]]


def spans_with(trace_id: str, name: str) -> list[dict[str, Any]]:
    """The trace's spans once one is called `name` (polled, bounded): the function that ends
    it exports its spans as its delivery returns, after the task's document is written."""
    deadline = time.monotonic() + WAIT_S
    spans = fetch_spans(get_settings(), trace_id, 0)
    while not any(s["name"] == name for s in spans) and time.monotonic() < deadline:
        time.sleep(0.2)
        spans = fetch_spans(get_settings(), trace_id, 0)
    return spans


def test_a_task_that_falls_back_is_one_trace_across_its_hops(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.fault("openai", "down")
    task_id = unique("traced-fallback")
    answer = pipeline.post("/tasks", {"task_description": "Trace me", "task_id": task_id})
    assert answer.status_code == 202
    task = pipeline.wait(task_id)
    assert (task["status"], task["result"]["provider"]) == ("succeeded", "vertex")
    trace_id = task["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert task["trace_context"].split("-")[1] == trace_id

    spans = fetch_spans(get_settings(), trace_id, WAIT_S)
    assert {span["trace_id"] for span in spans} == {trace_id}
    (ingest,) = children_of(spans)[None]
    assert ingest["name"] == "ingest"
    assert ingest["attributes"]["aiexec.task_id"] == task_id

    openai = only(spans, "worker-openai", ingest)
    assert openai["attributes"]["aiexec.result"] == "handed_over"
    failed_calls = under(spans, "provider.call", openai)
    assert len(failed_calls) == pipeline.settings.provider_attempts
    assert [c["attributes"]["aiexec.attempt"] for c in failed_calls] == list(
        range(1, pipeline.settings.provider_attempts + 1)
    )
    for call in failed_calls:
        assert call["status"] == "error"
        assert call["attributes"]["aiexec.provider"] == "openai"
        assert call["attributes"]["aiexec.outcome"] == "transient"
        assert call["attributes"]["aiexec.error_code"] == "unavailable"
    pauses = under(spans, "retry.backoff", openai)
    assert len(pauses) == pipeline.settings.provider_attempts - 1

    vertex = only(spans, "worker-vertex", openai)
    (ok_call,) = under(spans, "provider.call", vertex)
    assert ok_call["status"] != "error"
    assert ok_call["attributes"]["aiexec.outcome"] == "ok"
    assert ok_call["attributes"]["aiexec.model"] == task["result"]["model"]
    assert ok_call["attributes"]["aiexec.total_tokens"] > 0
    completed = only(spans, "task.completed", vertex)
    assert completed["attributes"]["aiexec.status"] == "succeeded"
    # Each hop starts after the one that handed it over.
    assert ingest["start_unix_nano"] <= openai["start_unix_nano"] <= vertex["start_unix_nano"]

    # The worker's log lines name the trace as Cloud Logging links them.
    project = pipeline.settings.project_id
    line = pipeline.wait_for_log(
        "worker-vertex",
        lambda entry: entry.get("task_id") == task_id and TRACE_FIELD in entry,
    )
    assert line[TRACE_FIELD] == f"projects/{project}/traces/{trace_id}"

    # `aiexec trace` prints the same tree.
    capsys.readouterr()
    assert main(["trace", task_id, "--wait", str(WAIT_S)]) == 0
    printed = capsys.readouterr().out
    names = [line.split(" ms  ", 2)[-1] for line in printed.splitlines()[1:] if " ms  " in line]
    assert names[0].startswith("ingest")
    assert names[1].startswith("└─ worker-openai")
    assert any(n.startswith("   ├─ provider.call openai/") and "ERROR" in n for n in names)
    assert any(n.startswith("   └─ worker-vertex") for n in names)
    assert any(n.startswith("      └─ task.completed") for n in names)
    assert printed.splitlines()[0].startswith(f"trace {trace_id}  {len(spans)} spans")
    assert (
        f"link: {pipeline.stack.env['AIEXEC_TRACE_LINK_TEMPLATE']}".replace("{trace_id}", trace_id)
        in printed
    )


def test_a_task_the_sweeper_republishes_continues_its_trace(pipeline: Pipeline) -> None:
    task_id = unique("traced-sweep")
    with tracing.entry_span("ingest"):  # as ingest would have recorded it
        trace = tracing.task_trace()
    store = pipeline.store
    store.commit_creation(
        store.creation(task_id, "c", {"task_description": "lost"}, ["openai"], trace=trace)
    )
    stale = utcnow() - timedelta(seconds=pipeline.settings.requeue_after_s + 1)
    store.task_ref(task_id).update({"updated_at": stale})
    sweeper = Sweeper(pipeline.settings, store, Bus(pipeline.settings))
    assert task_id in sweeper.sweep().republished
    assert pipeline.wait(task_id)["status"] == "succeeded"

    # The worker's hop joins the stored trace (under the sweeper's span, made in this process).
    spans = spans_with(trace["trace_id"], "task.completed")
    hop = next(s for s in spans if s["name"] == "worker-openai")
    assert hop["attributes"]["aiexec.reason"] == "sweeper"
    assert only(spans, "task.completed", hop)["attributes"]["aiexec.status"] == "succeeded"


def test_a_callback_is_the_last_span_and_its_post_carries_the_trace(pipeline: Pipeline) -> None:
    receiver = Receiver(0).start()
    try:
        task_id = unique("traced-callback")
        body = {"task_id": task_id, "task_description": "hello", "callback_url": receiver.url}
        assert pipeline.post("/tasks", body).status_code == 202
        trace_id = pipeline.wait(task_id)["trace_id"]
        deadline = time.monotonic() + WAIT_S
        while not receiver.for_task(task_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        [posted] = receiver.for_task(task_id)
    finally:
        receiver.stop()
    spans = spans_with(trace_id, "callbacks")
    (ingest,) = children_of(spans)[None]
    hop = only(spans, "worker-openai", ingest)
    callbacks = only(spans, "callbacks", only(spans, "task.completed", hop))
    assert callbacks["attributes"]["aiexec.result"] == "delivered"
    # The receiver can continue the trace: the POST's traceparent is the callbacks span's.
    assert posted.headers["traceparent"].split("-")[1:3] == [trace_id, callbacks["span_id"]]


def test_a_batch_task_finished_by_the_poller_ends_in_its_own_trace(pipeline: Pipeline) -> None:
    task_id = unique("traced-batch")
    with AIExecClient(pipeline.settings) as client:
        client.submit({"task_id": task_id, "task_description": "later", "mode": "batch"})
    httpx.post(f"{pipeline.stack.simulator_url}/_sim/batch", json={"delay_s": 0.5}, timeout=10)
    assert main(["batch", "flush", "--wait", str(WAIT_S), "--every", "0.5"]) == 0
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    spans = spans_with(task["trace_id"], "task.completed")
    (ingest,) = children_of(spans)[None]
    answered = only(spans, "batch.answered", ingest)  # the poller's span, in the task's trace
    assert answered["attributes"]["aiexec.task_id"] == task_id
    assert only(spans, "task.completed", answered)["attributes"]["aiexec.status"] == "succeeded"
