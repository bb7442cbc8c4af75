"""Attachments on Anthropic, the third provider (issue 15): the session chain is openai →
vertex, so these run on the second functions set whose chain ends with anthropic
(tests/chaos/conftest.py), sharing the session's Cloud Storage emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.chaos import ChaosRunner
from infra.settings import Settings
from infra.simulator.files import file_tokens
from tests.attachments.conftest import pdf_bytes, png_bytes
from tests.e2e.test_attachments import PROMPT, Stored, put

WAIT_S = 60.0


@pytest.fixture
def three(chain_of_three: Settings, stack: Any) -> Iterator[ChaosRunner]:
    runner = ChaosRunner(chain_of_three, stack.simulator_url)
    runner.reset()
    yield runner
    runner.reset()


def submit(runner: ChaosRunner, body: dict[str, Any]) -> dict[str, Any]:
    task_id = f"anthropic-attach-{time.time_ns()}"
    url = f"{runner.settings.ingest_url.rstrip('/')}/tasks"
    response = httpx.post(url, json=body | {"task_id": task_id}, timeout=30)
    assert response.status_code == 202, response.text
    task = runner.store.wait_for_terminal(task_id, WAIT_S)
    assert task is not None and task["status"] in ("succeeded", "failed"), task
    return task


@pytest.mark.parametrize("kind", ["png", "pdf"])
def test_anthropic_reads_an_image_and_a_pdf_inline(
    three: ChaosRunner, stack: Any, kind: str
) -> None:
    data, mime = (
        (png_bytes(24, 24), "image/png") if kind == "png" else (pdf_bytes(3), "application/pdf")
    )
    file: Stored = put(stack, f"anthropic/sample.{kind}", data, mime)
    plain = submit(three, {"task_description": PROMPT, "providers": ["anthropic"]})
    body = {
        "task_description": PROMPT,
        "attachments": [file.attachment],
        "providers": ["anthropic"],
    }
    task = submit(three, body)
    assert task["status"] == "succeeded", task
    assert [(a["provider"], a["outcome"]) for a in task["attempts"]] == [("anthropic", "ok")]
    extra = task["usage"]["prompt_tokens"] - plain["usage"]["prompt_tokens"]
    assert extra == file_tokens(file.size)


def test_first_two_down_anthropic_answers_with_the_file(three: ChaosRunner, stack: Any) -> None:
    file = put(stack, "anthropic/fallback.png", png_bytes(8, 8), "image/png")
    three.fault("openai", "down")
    three.fault("vertex", "down")
    task = submit(three, {"task_description": PROMPT, "attachments": [file.attachment]})
    assert task["status"] == "succeeded", task
    assert [a["provider"] for a in task["attempts"]] == ["openai", "vertex", "anthropic"]
    assert task["result"]["provider"] == "anthropic"
