"""OpenAI's Batch API through the official SDK: a JSONL file uploaded with purpose `batch`, a
batch on `/v1/chat/completions` with the 24 h window, its output and error files read back.

Each line's body is the online call's (`wire_messages`, `response_format`: the same request
building), `custom_id` is the task id, and the batch carries our job id in its metadata
(`aiexec_job_id`) and its input file's name (`<job_id>.jsonl`), so `find` recognises a batch a
batcher created before it died. Limits (a file of at most 50,000 requests and 200 MB), read
2026-11-30: https://platform.openai.com/docs/api-reference/batch/create ("The file can contain
up to 50,000 requests, and can be up to 200 MB in size").

The SDK's retries are off (`max_retries=0`): a retried `batches.create` whose first try landed
would create a second batch; the batcher's own lease and `find` decide instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

import openai
from openai.types import Batch
from openai.types.chat import ChatCompletion

from shared.batch.provider import JobState, LineResult, ProviderJob
from shared.providers.base import CompletionRequest, ProviderError, TransientError
from shared.providers.errors import error_for_status, not_configured, unexpected_error
from shared.providers.openai.adapter import (
    classify,
    resolve_endpoint,
    response_format,
    to_completion,
    wire_messages,
)
from shared.settings import TaskSettings

ENDPOINT: Final = "/v1/chat/completions"
WINDOW: Final = "24h"
JOB_ID_KEY = "aiexec_job_id"
FIND_SCAN = 500  # newest batches looked through for a job id (ours are minutes old)
FILE_TIMEOUT_S = 300.0  # an upload or download of up to 200 MB
_T = TypeVar("_T")
_STATES = {
    "validating": JobState.SUBMITTED,
    "in_progress": JobState.RUNNING,
    "finalizing": JobState.RUNNING,
    "completed": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "expired": JobState.EXPIRED,
    "cancelling": JobState.CANCELLING,
    "cancelled": JobState.CANCELLED,
}


class OpenAIBatch:
    name = "openai"

    def __init__(self, settings: TaskSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None

    def line(self, task_id: str, request: CompletionRequest) -> bytes:
        body: dict[str, Any] = {"model": request.model, "messages": wire_messages(request)}
        if request.max_output_tokens is not None:
            body["max_completion_tokens"] = request.max_output_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        schema = response_format(request)
        if not isinstance(schema, openai.Omit):
            body["response_format"] = schema
        line = {"custom_id": task_id, "method": "POST", "url": ENDPOINT, "body": body}
        return json.dumps(line, separators=(",", ":")).encode() + b"\n"

    def find(self, job_id: str) -> ProviderJob | None:
        client = self._get_client()
        for seen, batch in enumerate(_call(lambda: client.batches.list(limit=100))):
            if (batch.metadata or {}).get(JOB_ID_KEY) == job_id:
                return _job(batch)
            if seen + 1 >= FIND_SCAN:
                break
        return None

    def submit(self, job_id: str, model: str, lines: bytes) -> ProviderJob:
        client = self._get_client()
        upload = (f"{job_id}.jsonl", lines, "application/jsonl")
        uploaded = _call(
            lambda: client.files.create(file=upload, purpose="batch", timeout=FILE_TIMEOUT_S)
        )
        batch = _call(
            lambda: client.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window=WINDOW,
                metadata={JOB_ID_KEY: job_id, "model": model},
            )
        )
        return _job(batch)

    def get(self, provider_job_id: str) -> ProviderJob:
        client = self._get_client()
        return _job(_call(lambda: client.batches.retrieve(provider_job_id)))

    def cancel(self, provider_job_id: str) -> None:
        client = self._get_client()
        _call(lambda: client.batches.cancel(provider_job_id))

    def results(self, job: ProviderJob) -> Iterator[LineResult]:
        for file_id in (job.output_ref, job.error_ref):
            if file_id:
                yield from (parse_line(raw) for raw in self._lines(file_id) if raw.strip())

    def _lines(self, file_id: str) -> list[bytes]:
        client = self._get_client()
        content = _call(lambda: client.files.content(file_id, timeout=FILE_TIMEOUT_S))
        return content.read().splitlines()

    def _get_client(self) -> openai.OpenAI:
        endpoint = resolve_endpoint(self._settings)
        if endpoint is None:
            raise not_configured(
                self.name, "set OPENAI_API_KEY, OPENAI_BASE_URL or AIEXEC_SIMULATOR_URL"
            )
        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(
                    api_key=endpoint.api_key,
                    base_url=endpoint.base_url or openai.not_given,
                    timeout=self._settings.openai_timeout_s,
                    max_retries=0,
                )
            return self._client


def _call(call: Callable[[], _T]) -> _T:
    """The SDK call's result; its errors as the provider contract's."""
    try:
        result = call()
    except openai.APIError as exc:
        raise classify(exc) from exc
    except ProviderError:
        raise
    except Exception as exc:
        raise unexpected_error("openai", exc) from exc
    return result


def _job(batch: Batch) -> ProviderJob:
    message = ""
    if batch.errors and batch.errors.data:
        message = "; ".join(str(e.message or e.code) for e in batch.errors.data)[:500]
    return ProviderJob(
        provider_job_id=batch.id,
        state=_STATES.get(batch.status, JobState.RUNNING),
        input_ref=batch.input_file_id,
        output_ref=batch.output_file_id or "",
        error_ref=batch.error_file_id or "",
        message=message,
    )


def parse_line(raw: bytes) -> LineResult:
    """One line of an output or error file: `{id, custom_id, response: {status_code, body},
    error}` (https://platform.openai.com/docs/guides/batch, read 2026-11-30)."""
    line = json.loads(raw)
    task_id = str(line.get("custom_id") or "")
    response = line.get("response") or {}
    status = int(response.get("status_code") or 0)
    body = response.get("body") or {}
    if line.get("error") or status != 200:
        error = line.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
        code = error.get("code") if isinstance(error, dict) else None
        message = str(error.get("message") if isinstance(error, dict) else error or "line failed")
        if not status:
            return LineResult(task_id, error=TransientError(str(code or "batch_line"), message))
        return LineResult(task_id, error=error_for_status(status, message))
    try:
        completion = to_completion(ChatCompletion.model_validate(body), str(body.get("model")))
    except ProviderError as error:
        return LineResult(task_id, error=error)
    except ValueError as exc:  # a body that is no chat completion
        return LineResult(task_id, error=TransientError("bad_response", str(exc)[:300]))
    return LineResult(task_id, completion=completion)
