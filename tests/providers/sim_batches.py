"""Helpers of the simulator's batch tests: input lines in each provider's format, waiting for a
job to end, and reading its output."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

import openai
from google.cloud import storage
from openai.types import Batch

T = TypeVar("T")
OPENAI_MODEL, GEMINI_MODEL = "gpt-6.1-terra", "gemini-3.8-flash"
ENDPOINT: Final = "/v1/chat/completions"
OPENAI_ENDED = ("completed", "failed", "expired", "cancelled")


def wait_for(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 10.0) -> T:
    """Read until `done` says so; the last value read. Polls (as a batch client does)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout_s}s; last read: {value!r}")
        time.sleep(0.02)


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def parse_jsonl(data: bytes | str) -> list[dict[str, Any]]:
    text = data.decode() if isinstance(data, bytes) else data
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- OpenAI -----------------------------------------------------------------------------------
def chat_body(prompt: str, model: str = OPENAI_MODEL) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}]}


def openai_lines(ids: list[str], model: str = OPENAI_MODEL) -> list[dict[str, Any]]:
    def line(custom_id: str) -> dict[str, Any]:
        body = chat_body(f"Summarize item {custom_id}", model)
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}

    return [line(custom_id) for custom_id in ids]


def submit(
    client: openai.OpenAI, rows: list[dict[str, Any]], metadata: dict[str, str] | None = None
) -> Batch:
    """Upload the lines (purpose batch) and create the batch, as the system's batcher does."""
    uploaded = client.files.create(file=("bj_test.jsonl", jsonl(rows)), purpose="batch")
    return client.batches.create(
        input_file_id=uploaded.id,
        endpoint=ENDPOINT,
        completion_window="24h",
        metadata=metadata,
    )


def finished(client: openai.OpenAI, batch: Batch, timeout_s: float = 10.0) -> Batch:
    return wait_for(
        lambda: client.batches.retrieve(batch.id), lambda b: b.status in OPENAI_ENDED, timeout_s
    )


def file_lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    return [] if file_id is None else parse_jsonl(client.files.content(file_id).content)


# --- Vertex AI ----------------------------------------------------------------------------------
def gemini_request(prompt: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}


def vertex_lines(keys: list[str]) -> list[dict[str, Any]]:
    return [{"key": key, "request": gemini_request(f"Summarize item {key}")} for key in keys]


def predictions(bucket: storage.Bucket, prefix: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(object names under `prefix`, the rows of its predictions.jsonl objects)."""
    blobs = list(bucket.list_blobs(prefix=prefix))
    rows = [r for b in blobs if b.name.endswith("predictions.jsonl")
            for r in parse_jsonl(b.download_as_bytes())]  # fmt: skip
    return [b.name for b in blobs], rows
