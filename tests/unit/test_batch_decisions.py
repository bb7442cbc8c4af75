"""The batch lane's decisions without a stack: which lane takes a task, job ids, the split under
a provider's limits, the lines each provider's batch adapter writes and reads, and what settling
a line writes (batch prices, one usage document keyed by task and job, the attempts entry)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.settings import Settings
from shared.batch import settle
from shared.batch.jobs import Lane, Line, job_id_for, lane_for, limits, split, too_large
from shared.batch.provider import LineResult
from shared.pricing import prices_for
from shared.providers.base import Completion, CompletionRequest, FileData, Turn
from shared.providers.openai import batch as openai_batch
from shared.providers.registry import SPECS, batch_capable
from shared.providers.vertex import batch as vertex_batch

pytestmark = pytest.mark.usefixtures("default_settings_env")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def task(chain: list[str], **request: Any) -> dict[str, Any]:
    return {
        "task_id": "t-1",
        "client_id": "c",
        "chain": chain,
        "hop": 0,
        "status": "batched",
        "mode": "batch",
        "request": {"task_description": "hi"} | request,
        "attempts": [],
        "batch": {"job_id": "bj_x", "submitted_at": NOW - timedelta(minutes=5)},
    }


def test_the_lane_is_the_first_batch_capable_provider_of_the_chain() -> None:
    settings = Settings(batch_bucket="b")
    assert batch_capable("openai") and batch_capable("vertex")
    assert not batch_capable("anthropic")  # no batch adapter yet: its tasks run online

    assert lane_for(settings, task(["anthropic", "vertex", "openai"])) == Lane(
        "vertex", settings.vertex_model
    )
    assert lane_for(settings, task(["openai"], model={"openai": "gpt-6.1-sol"})) == Lane(
        "openai", "gpt-6.1-sol"
    )
    assert lane_for(settings, task(["anthropic"])) is None


def test_vertex_needs_the_batch_bucket() -> None:
    chain = ["vertex", "openai"]
    assert lane_for(Settings(batch_bucket=None), task(chain)).provider == "openai"  # type: ignore[union-attr]
    assert lane_for(Settings(batch_bucket=None), task(["vertex"])) is None


def test_job_ids_are_deterministic_and_differ_by_provider_model_and_tasks() -> None:
    first = job_id_for("openai", "m", ["b", "a"])
    assert first == job_id_for("openai", "m", ["a", "b"])
    assert first.startswith("bj_")
    others = {
        job_id_for("vertex", "m", ["a", "b"]),
        job_id_for("openai", "n", ["a", "b"]),
        job_id_for("openai", "m", ["a"]),
    }
    assert first not in others and len(others) == 3


def test_split_respects_lines_and_bytes_in_task_order() -> None:
    lines = [Line(f"t{n:02d}", b"x" * 10) for n in reversed(range(7))]
    by_lines = split(lines, max_lines=3, max_bytes=1000)
    assert [[line.doc_id for line in g] for g in by_lines] == [
        ["t00", "t01", "t02"],
        ["t03", "t04", "t05"],
        ["t06"],
    ]
    by_bytes = split(lines, max_lines=100, max_bytes=25)
    assert [len(g) for g in by_bytes] == [2, 2, 2, 1]
    huge = [*lines, Line("big", b"y" * 30)]
    assert "big" not in {line.doc_id for g in split(huge, 100, 25) for line in g}
    assert too_large(huge, 25) == ["big"]


def test_limits_are_the_providers_unless_the_settings_are_lower() -> None:
    openai = SPECS["openai"].batch
    assert openai is not None and (openai.max_lines, openai.max_bytes) == (50_000, 200_000_000)
    assert limits(Settings(), "vertex") == (200_000, 1_000_000_000)
    assert limits(Settings(batch_max_lines=100, batch_max_bytes=10**12), "openai") == (
        100,
        200_000_000,
    )


def test_openai_lines_carry_the_online_request_and_the_task_id() -> None:
    adapter = openai_batch.OpenAIBatch(Settings())
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    request = CompletionRequest(
        "hi", "gpt-6.1-terra", system="be brief", max_output_tokens=5, response_schema=schema
    )
    line = json.loads(adapter.line("doc-1", request))

    assert line["custom_id"] == "doc-1"
    assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
    body = line["body"]
    assert body["model"] == "gpt-6.1-terra" and body["max_completion_tokens"] == 5
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert body["response_format"]["json_schema"]["schema"] == schema


def test_openai_output_and_error_lines() -> None:
    ok = {
        "id": "r1",
        "custom_id": "doc-1",
        "response": {
            "status_code": 200,
            "request_id": "q",
            "body": {
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-6.1-terra",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "yes"},
                    }
                ],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
            },
        },
        "error": None,
    }
    parsed = openai_batch.parse_line(json.dumps(ok).encode())
    assert parsed.task_id == "doc-1" and parsed.completion is not None
    assert (parsed.completion.text, parsed.completion.total_tokens) == ("yes", 10)

    failed = {
        "id": "r2",
        "custom_id": "doc-2",
        "error": None,
        "response": {
            "status_code": 500,
            "body": {"error": {"message": "boom", "type": "server_error"}},
        },
    }
    line = openai_batch.parse_line(json.dumps(failed).encode())
    assert line.task_id == "doc-2" and line.completion is None
    assert line.error is not None and line.error.status == 500


def test_vertex_lines_carry_the_key_and_the_gemini_request() -> None:
    adapter = vertex_batch.VertexBatch(Settings(batch_bucket="b"))
    request = CompletionRequest(
        "",
        "gemini-3.8-flash",
        system="sys",
        temperature=0.5,
        turns=(Turn("user", ("look", FileData("gs://b/cat.png", "image/png"))),),
    )
    line = json.loads(adapter.line("doc-1", request))

    assert line["key"] == "doc-1"
    body = line["request"]
    assert body["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert body["generationConfig"] == {"temperature": 0.5}
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "look"},
                {"fileData": {"fileUri": "gs://b/cat.png", "mimeType": "image/png"}},
            ],
        }
    ]


def test_vertex_output_lines() -> None:
    response = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6},
        "modelVersion": "gemini-3.8-flash",
    }
    good = vertex_batch.parse_line(
        json.dumps({"key": "d1", "status": "", "response": response}).encode()
    )
    assert good.completion is not None and good.completion.text == "ok"
    bad = vertex_batch.parse_line(json.dumps({"key": "d2", "status": "Internal error"}).encode())
    assert bad.task_id == "d2" and bad.error is not None and bad.completion is None


def completion(text: str = "yes") -> Completion:
    return Completion(text, "gpt-6.1-terra", "stop", 1000, 500, 1500, cached_tokens=200)


def test_an_answered_line_is_priced_at_batch_prices_with_its_online_price_beside() -> None:
    line = LineResult("t-1", completion=completion())
    lane = Lane("openai", "gpt-6.1-terra")
    settled = settle.answered(
        task(["openai", "vertex"]), "bj_x", lane, line, started=NOW - timedelta(hours=1), now=NOW
    )
    prices = prices_for("gpt-6.1-terra")
    assert prices is not None and prices.batch_input is not None
    assert prices.batch_cached_input is not None and prices.batch_output is not None
    batch_cost = (
        800 * prices.batch_input + 200 * prices.batch_cached_input + 500 * prices.batch_output
    ) / 1e6
    online_cost = (800 * prices.input + 200 * prices.cached_input + 500 * prices.output) / 1e6

    assert settled.terminal
    assert list(settled.usage) == ["t-1-bj_x"]  # keyed by task and job: created once
    usage = settled.usage["t-1-bj_x"]
    assert usage["lane"] == "batch" and usage["job_id"] == "bj_x"
    assert usage["cost_usd"] == pytest.approx(batch_cost)
    assert usage["online_cost_usd"] == pytest.approx(online_cost)
    update = settled.update
    assert update["status"] == "succeeded" and update["result"]["text"] == "yes"
    entry = update["attempts"][-1]
    assert (entry["lane"], entry["job_id"], entry["outcome"]) == ("batch", "bj_x", "ok")
    assert entry["usage_ids"] == ["t-1-bj_x"]
    assert update["usage"]["cost_usd"] == pytest.approx(batch_cost)


def test_an_answer_outside_the_schema_is_recorded_and_the_task_goes_online() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    source = task(["vertex", "openai"], response_schema=schema)
    settled = settle.answered(
        source,
        "bj_x",
        Lane("openai", "gpt-6.1-terra"),
        LineResult("t-1", completion=completion("not json")),
        started=NOW,
        now=NOW,
    )

    assert not settled.terminal and len(settled.usage) == 1  # billed, so recorded
    assert settled.update["status"] == "queued" and settled.update["mode"] == "online"
    assert settled.update["hop"] == 1  # openai's hop in this chain


def test_moving_online_records_why_and_keeps_the_deadline() -> None:
    source = task(["vertex", "openai"]) | {"deadline_at": NOW + timedelta(hours=2)}
    error = {"code": settle.BATCH_EXPIRED, "message": "the batch job expired"}
    settled = settle.to_online(
        source,
        "bj_x",
        Lane("vertex", "gemini-3.8-flash"),
        outcome=settle.BATCH_EXPIRED,
        error=error,
        now=NOW,
    )

    assert not settled.usage and not settled.terminal
    update = settled.update
    assert (update["status"], update["mode"], update["hop"]) == ("queued", "online", 0)
    assert "deadline_at" not in update  # the time left is the task's own
    entry = update["attempts"][-1]
    assert (entry["outcome"], entry["lane"], entry["calls"]) == ("batch_expired", "batch", 0)
