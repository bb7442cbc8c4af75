"""The OpenAI Batches API, as the `openai` SDK calls it (`client.batches.create/retrieve/cancel/
list`; the files it reads and writes: `openai_files.py`):

    POST   /v1/batches                {input_file_id, endpoint, completion_window, metadata}
    GET    /v1/batches/{id}           POST /v1/batches/{id}/cancel
    GET    /v1/batches?limit=&after=  newest first, cursor pages; each batch with its metadata

Shapes read 2026-11-30 from the OpenAI API reference (the batch object, "request input" and
"request output" lines: https://platform.openai.com/docs/api-reference/batch) and from the
openai SDK's types (`openai/types/batch.py`, `batch_request_counts.py`, `batch_usage.py`,
`file_object.py`, 3.57). Input lines are `{custom_id, method: "POST", url: endpoint, body}`; only
`/v1/chat/completions` is simulated, every line naming the same model. Output and error files
hold `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}` lines:
200 answers in the output file; a non-2xx answer (the provider's own 400 for that body, or a
500 from `batch-line-errors`) and a line the job never ran (`response: null`, `error: {code:
"batch_expired"}`) in the error file. An expired job ran the first half of its lines. A file id
is null when its file would be empty. A cancelled job answers nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from infra.simulator import openai_api
from infra.simulator.batch_engine import (
    BatchContext,
    BatchJob,
    BatchRequest,
    Line,
    LineResult,
    Phase,
    Route,
    StoredFile,
    cancel_handler,
    get_handler,
    new_id,
)
from infra.simulator.openai_files import bad, fault
from infra.simulator.wire import BadRequest, Reply, json_body, request_id

PROVIDER = "openai"
ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW_S = 24 * 3600
MAX_LINES = 50_000  # OpenAI's per-batch limit on requests (its 200 MB limit: MAX_BODY_BYTES)
EXPIRED_RAN_SHARE = 0.5
_STATUS = {
    Phase.QUEUED: "validating",
    Phase.RUNNING: "in_progress",
    Phase.FINALIZING: "finalizing",
    Phase.COMPLETED: "completed",
    Phase.FAILED: "failed",
    Phase.EXPIRED: "expired",
    Phase.CANCELLING: "cancelling",
    Phase.CANCELLED: "cancelled",
}
_LINE_ERROR_BODY = {
    "error": {
        "message": "The server had an error while processing your request "
        "(simulated by the batch-line-errors fault).",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}


# --- batches: creation ----------------------------------------------------------------------
def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise BadRequest("metadata must be an object of at most 16 pairs", "metadata")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise BadRequest("metadata keys <= 64 and string values <= 512 characters", "metadata")


def _line(number: int, text: str, seen: set[str], model: list[str]) -> Line | dict[str, Any]:
    """One input line, or the batch error it causes (OpenAI validates the whole file)."""

    def problem(code: str, message: str, param: str | None = None) -> dict[str, Any]:
        return {"code": code, "message": message, "param": param, "line": number}

    try:
        entry = json.loads(text)
    except json.JSONDecodeError:
        return problem("invalid_json_line", "This line is not parseable as valid JSON.")
    if not isinstance(entry, dict) or not isinstance(entry.get("custom_id"), str):
        return problem("missing_required_parameter", "custom_id is required.", "custom_id")
    if entry["custom_id"] in seen:
        return problem("duplicate_custom_id", "The custom_id for this request is a duplicate.")
    if entry.get("method") != "POST" or entry.get("url") != ENDPOINT:
        return problem("invalid_url", f"The URL provided for this request must be {ENDPOINT}.")
    body = entry.get("body")
    name = openai_api.model_of(body)
    if not name or (model and name != model[0]):
        return problem("mismatched_model", "Every line of a batch must name the same model.")
    seen.add(entry["custom_id"])
    model[:1] = [name]
    return Line(entry["custom_id"], body)


def _parse_input(data: bytes) -> tuple[list[Line], list[dict[str, Any]], str | None]:
    """(lines, errors, model) of an input file."""
    texts = [t for t in data.decode("utf-8", "replace").splitlines() if t.strip()]
    if not texts:
        return (
            [],
            [{"code": "empty_file", "message": "The input file is empty.", "line": None}],
            None,
        )
    if len(texts) > MAX_LINES:
        message = f"A batch may hold at most {MAX_LINES} requests; this file has {len(texts)}."
        return [], [{"code": "too_many_requests", "message": message, "line": None}], None
    lines: list[Line] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: list[str] = []
    for number, text in enumerate(texts, start=1):
        parsed = _line(number, text, seen, model)
        (lines if isinstance(parsed, Line) else errors).append(parsed)  # type: ignore[arg-type]
    return lines, errors, (model[0] if model else None)


def _creation(ctx: BatchContext, body: Any) -> tuple[StoredFile, dict[str, Any]]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    stored = ctx.files.get(str(body.get("input_file_id")))
    if stored is None or stored.purpose != "batch":
        raise BadRequest("input_file_id must name a file uploaded with purpose 'batch'",
                         "input_file_id")  # fmt: skip
    if body.get("endpoint") != ENDPOINT:
        raise BadRequest(f"the simulator runs endpoint {ENDPOINT} only", "endpoint")
    if body.get("completion_window") != "24h":
        raise BadRequest("completion_window must be '24h'", "completion_window")
    _check_metadata(body.get("metadata"))
    return stored, body


def create_batch(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
    try:
        stored, body = _creation(ctx, json_body(request.raw))
    except BadRequest as exc:
        return bad(exc.message, exc.param)
    lines, errors, model = _parse_input(stored.data)
    mode = ctx.state.batch_job_mode(PROVIDER)
    job = ctx.engine.create(
        PROVIDER, new_id("batch_"), lines, mode, "invalid input" if errors else None
    )
    job.data.update(input_file_id=stored.id, metadata=body.get("metadata"), model=model,
                    errors=errors or None)  # fmt: skip
    return Reply(200, batch_object(ctx, job))


# --- batches: what a job shows --------------------------------------------------------------
def _output_line(job: BatchJob, result: LineResult) -> dict[str, Any]:
    key = result.line.key
    ids = {"id": "batch_req_" + request_id(job.id, key), "custom_id": key}
    if result.reply is None and not result.simulated:
        expired = {"code": "batch_expired", "message": "This request could not be executed "
                   "before the completion window expired."}  # fmt: skip
        return {**ids, "response": None, "error": expired}
    status, body = (500, _LINE_ERROR_BODY) if result.reply is None else (
        result.reply.status, result.reply.body)  # fmt: skip
    response = {"status_code": status, "request_id": request_id("req", job.id, key), "body": body}
    return {**ids, "response": response, "error": None}


def _settle(ctx: BatchContext, job: BatchJob) -> dict[str, Any]:
    """Answer the lines; store the output and error files; add up counts and usage."""

    def run(line: Line) -> Reply:
        return openai_api.complete(line.request, ctx.cache, ctx.models)

    results = job.answer(run, EXPIRED_RAN_SHARE)
    out: list[dict[str, Any]] = []
    err: list[dict[str, Any]] = []
    for result in results:
        line = _output_line(job, result)
        ok = line["response"] is not None and line["response"]["status_code"] == 200
        (out if ok else err).append(line)
    usage = _usage([line["response"]["body"].get("usage") or {} for line in out])
    return {
        "output_file_id": _store(ctx, job, "output", out),
        "error_file_id": _store(ctx, job, "error", err),
        "request_counts": {"total": len(results), "completed": len(out), "failed": len(err)},
        "usage": usage,
    }


def _store(ctx: BatchContext, job: BatchJob, kind: str, lines: list[dict[str, Any]]) -> str | None:
    if not lines:
        return None
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return ctx.files.add(f"{job.id}_{kind}.jsonl", "batch_output", data).id


def _usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch's `usage`: the chat completions' usage added up, in the Responses names."""

    def add(name: str, detail: str | None = None) -> int:
        values = (u.get(detail) or {} if detail else u for u in usages)
        return sum(int(v.get(name) or 0) for v in values)

    prompt, completion = add("prompt_tokens"), add("completion_tokens")
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": add("cached_tokens", "prompt_tokens_details")},
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": add("reasoning_tokens", "completion_tokens_details")
        },
        "total_tokens": prompt + completion,
    }


def _timestamps(job: BatchJob, phase: Phase) -> dict[str, int | None]:
    def stamp(share: float, shown: bool) -> int | None:
        return int(job.at(share)) if shown else None

    failed, cancel = phase == Phase.FAILED, job.cancel_at
    ran = phase not in (Phase.QUEUED, Phase.FAILED) and (cancel is None or cancel >= job.at(0.1))
    ended = phase in (Phase.COMPLETED, Phase.EXPIRED)
    grace = 0.1 * job.delay_s
    return {
        "created_at": int(job.created_at),
        "in_progress_at": stamp(0.1, ran),
        "expires_at": int(job.created_at) + COMPLETION_WINDOW_S,
        "finalizing_at": stamp(0.9, ended or phase == Phase.FINALIZING),
        "completed_at": stamp(1.0, phase == Phase.COMPLETED),
        "failed_at": stamp(0.1, failed),
        "expired_at": stamp(1.0, phase == Phase.EXPIRED),
        "cancelling_at": int(cancel) if cancel is not None else None,
        "cancelled_at": int(cancel + grace)
        if cancel is not None and phase == Phase.CANCELLED
        else None,
    }


def batch_object(ctx: BatchContext, job: BatchJob) -> dict[str, Any]:
    phase = job.phase()
    settled: dict[str, Any] = {"output_file_id": None, "error_file_id": None, "usage": _usage([])}
    total = 0 if phase in (Phase.QUEUED, Phase.FAILED) else len(job.lines)
    settled["request_counts"] = {"total": total, "completed": 0, "failed": 0}
    if phase in (Phase.COMPLETED, Phase.EXPIRED):
        settled = cast(dict[str, Any], job.settle(lambda j: _settle(ctx, j)))
    errors = job.data.get("errors")
    if phase == Phase.FAILED and not errors:
        errors = [
            {"code": "batch_failed", "message": str(job.failure), "param": None, "line": None}
        ]
    return {
        "id": job.id,
        "object": "batch",
        "endpoint": ENDPOINT,
        "model": job.data.get("model"),
        "errors": {"object": "list", "data": errors} if phase == Phase.FAILED else None,
        "input_file_id": job.data["input_file_id"],
        "completion_window": "24h",
        "status": _STATUS[phase],
        **_timestamps(job, phase),
        **settled,
        "metadata": job.data.get("metadata"),
    }


def _job(ctx: BatchContext, match: re.Match[str]) -> BatchJob | Reply:
    job = ctx.engine.get(PROVIDER, match["batch_id"])
    if job is None:
        return bad(f"No batch found with id '{match['batch_id']}'.", "batch_id", status=404)
    return job


def _shown(ctx: BatchContext, job: BatchJob) -> Reply:
    return Reply(200, batch_object(ctx, job))


def _not_cancelled(job: BatchJob) -> Reply:
    return bad(f"Cannot cancel a batch with status '{_STATUS[job.phase()]}'.", status=409)


def list_batches(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
    limit_text = request.query.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        return bad("limit must be an integer from 1 to 100", "limit")
    jobs = ctx.engine.jobs(PROVIDER)
    after = request.query.get("after")
    if after is not None:
        ids = [job.id for job in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    page = jobs[: int(limit_text)]
    data = [batch_object(ctx, job) for job in page]
    return Reply(200, {
        "object": "list",
        "data": data,
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
        "has_more": len(jobs) > len(page),
    })  # fmt: skip


_BATCH = r"^/v1/batches/(?P<batch_id>[^/]+)"
ROUTES = tuple(
    Route(PROVIDER, method, re.compile(pattern), handler, fault)
    for method, pattern, handler in (
        ("POST", r"^/v1/batches$", create_batch),
        ("GET", r"^/v1/batches$", list_batches),
        ("GET", _BATCH + "$", get_handler(_job, _shown)),
        ("POST", _BATCH + "/cancel$", cancel_handler(_job, _not_cancelled, _shown)),
    )
)
