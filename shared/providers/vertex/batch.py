"""Vertex AI batch inference for Gemini through google-genai (`client.batches`): the input is one
JSONL object in Cloud Storage (`gs://<AIEXEC_BATCH_BUCKET>/batch/<job_id>/input.jsonl`), the
output a `predictions.jsonl` under `.../output/` that the job writes.

Each line is `{"key": <task id>, "request": <GenerateContentRequest>}`: the request is built by
the online adapter's `wire_contents` (files by `gs://` URI or inline, as online), and the output
line echoes the `key` and the request beside its `response` (or its error in `status`). The job's
display name is our job id, so `find` recognises a job a batcher created before it died.

Limits, read 2026-11-30, "Batch inference with Gemini", Quotas and limits
(https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini):
a job takes at most 200,000 requests and an input file of at most 1 GB in Cloud Storage; jobs
queue for up to 72 hours.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from google import genai
from google.genai import types

from shared.batch.provider import JobState, LineResult, ProviderJob
from shared.providers.base import (
    CompletionRequest,
    ProviderError,
    ProviderFatalError,
    RequestRefusedError,
    TransientError,
)
from shared.providers.errors import not_configured, unexpected_error
from shared.providers.vertex.adapter import (
    _CALL_ERRORS,
    build_client,
    classify,
    to_completion,
    wire_contents,
)
from shared.settings import TaskSettings

_T = TypeVar("_T")
FIND_SCAN = 500  # newest jobs looked through for a display name (ours are minutes old)
STORAGE_TIMEOUT_S = 300.0
_STATES = {
    "JOB_STATE_QUEUED": JobState.SUBMITTED,
    "JOB_STATE_PENDING": JobState.SUBMITTED,
    "JOB_STATE_RUNNING": JobState.RUNNING,
    "JOB_STATE_UPDATING": JobState.RUNNING,
    "JOB_STATE_PAUSED": JobState.RUNNING,
    "JOB_STATE_SUCCEEDED": JobState.COMPLETED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": JobState.COMPLETED,
    "JOB_STATE_FAILED": JobState.FAILED,
    "JOB_STATE_EXPIRED": JobState.EXPIRED,
    "JOB_STATE_CANCELLING": JobState.CANCELLING,
    "JOB_STATE_CANCELLED": JobState.CANCELLED,
}


class VertexBatch:
    name = "vertex"

    def __init__(self, settings: TaskSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._client: genai.Client | None = None

    def line(self, task_id: str, request: CompletionRequest) -> bytes:
        body: dict[str, Any] = {
            "contents": [
                c.model_dump(mode="json", exclude_none=True, by_alias=True)
                for c in wire_contents(request)
            ]
        }
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        structured = request.response_schema is not None
        config = types.GenerationConfig(
            max_output_tokens=request.max_output_tokens,
            temperature=request.temperature,
            response_mime_type="application/json" if structured else None,
            response_json_schema=request.response_schema,
        ).model_dump(mode="json", exclude_none=True, by_alias=True)
        if config:
            body["generationConfig"] = config
        line = {"key": task_id, "request": body}
        return json.dumps(line, separators=(",", ":")).encode() + b"\n"

    def find(self, job_id: str) -> ProviderJob | None:
        client = self._get_client()
        pager = _call(lambda: client.batches.list(config=types.ListBatchJobsConfig(page_size=100)))
        for seen, job in enumerate(pager):
            if job.display_name == job_id:
                return _job(job)
            if seen + 1 >= FIND_SCAN:
                break
        return None

    def submit(self, job_id: str, model: str, lines: bytes) -> ProviderJob:
        prefix = self._prefix(job_id)
        source = f"{prefix}input.jsonl"
        _storage_call(lambda: _write(self._settings, source, lines))
        client = self._get_client()
        config = types.CreateBatchJobConfig(dest=f"{prefix}output/", display_name=job_id)
        job = _call(lambda: client.batches.create(model=model, src=source, config=config))
        return _job(job)

    def get(self, provider_job_id: str) -> ProviderJob:
        client = self._get_client()
        return _job(_call(lambda: client.batches.get(name=provider_job_id)))

    def cancel(self, provider_job_id: str) -> None:
        client = self._get_client()
        _call(lambda: client.batches.cancel(name=provider_job_id))

    def results(self, job: ProviderJob) -> Iterator[LineResult]:
        if not job.output_ref:
            return
        for blob in _storage_call(lambda: _outputs(self._settings, job.output_ref)):
            for raw in blob.splitlines():
                if raw.strip():
                    yield parse_line(raw)

    def _prefix(self, job_id: str) -> str:
        bucket = self._settings.batch_bucket
        if not bucket:
            raise not_configured(self.name, "set AIEXEC_BATCH_BUCKET for Vertex AI batch jobs")
        return f"gs://{bucket}/batch/{job_id}/"

    def _get_client(self) -> genai.Client:
        with self._lock:
            if self._client is None:
                self._client = build_client(self._settings)
            return self._client


def _call(call: Callable[[], _T]) -> _T:
    try:
        return call()
    except _CALL_ERRORS as exc:
        raise classify(exc) from exc
    except ProviderError:
        raise
    except Exception as exc:
        raise unexpected_error("vertex", exc) from exc


def _storage_call(call: Callable[[], _T]) -> _T:
    """A Cloud Storage call; refused (401, 403, 404: the bucket or its grant is wrong) is the
    provider's fatal error, anything else passing. The status is read from the error rather
    than matched on google.api_core's classes (those are the data layer's to catch)."""
    try:
        return call()
    except Exception as exc:
        status = getattr(exc, "code", None)
        if status in (401, 403, 404):
            raise ProviderFatalError("batch_storage", f"Cloud Storage: {exc}") from exc
        raise TransientError("batch_storage", f"Cloud Storage: {type(exc).__name__}") from exc


def _split(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def _storage(settings: TaskSettings) -> Any:
    from google.cloud.storage import Client  # only the batch lane loads it here

    return Client(project=settings.vertex_project or settings.project_id)


def _write(settings: TaskSettings, uri: str, data: bytes) -> None:
    bucket, name = _split(uri)
    blob = _storage(settings).bucket(bucket).blob(name)
    blob.upload_from_string(data, content_type="application/jsonl", timeout=STORAGE_TIMEOUT_S)


def _outputs(settings: TaskSettings, prefix_uri: str) -> list[bytes]:
    """Every `predictions*.jsonl` the job wrote under its output prefix (Vertex AI writes them in
    a `prediction-model-<time>/` folder of it)."""
    bucket, prefix = _split(prefix_uri)
    client = _storage(settings)
    blobs = client.list_blobs(bucket, prefix=prefix, timeout=STORAGE_TIMEOUT_S)
    names = sorted(b.name for b in blobs if b.name.rsplit("/", 1)[-1].startswith("predictions"))
    return [
        client.bucket(bucket).blob(name).download_as_bytes(timeout=STORAGE_TIMEOUT_S)
        for name in names
    ]


def _job(job: types.BatchJob) -> ProviderJob:
    state = job.state.value if job.state is not None else "JOB_STATE_UNSPECIFIED"
    output = job.dest.gcs_uri if job.dest is not None and job.dest.gcs_uri else ""
    source = job.src.gcs_uri[0] if job.src is not None and job.src.gcs_uri else ""
    return ProviderJob(
        provider_job_id=job.name or "",
        state=_STATES.get(state, JobState.RUNNING),
        input_ref=source,
        output_ref=output,
        message=(job.error.message or "") if job.error is not None else "",
    )


def parse_line(raw: bytes) -> LineResult:
    """One output line: `{key, request, response, status}`; a line that failed has no
    `response` and says why in `status`."""
    line = json.loads(raw)
    task_id = str(line.get("key") or "")
    response = line.get("response")
    if not isinstance(response, dict):
        reason = str(line.get("status") or "no response")[:300]
        return LineResult(task_id, error=RequestRefusedError("batch_line_error", reason))
    try:
        parsed = types.GenerateContentResponse.model_validate(response)
        return LineResult(task_id, completion=to_completion(parsed, parsed.model_version or ""))
    except ProviderError as error:
        return LineResult(task_id, error=error)
    except ValueError as exc:
        return LineResult(task_id, error=TransientError("bad_response", str(exc)[:300]))
