"""Vertex AI batch prediction jobs for Gemini, as google-genai (`vertexai=True`) calls them
(`client.batches.create/get/list/cancel`), input and output in the Cloud Storage emulator:

    POST /v1beta1/projects/{p}/locations/{l}/batchPredictionJobs               create
    GET  /v1beta1/projects/{p}/locations/{l}/batchPredictionJobs?pageSize=&pageToken=&filter=
    GET  /v1beta1/projects/{p}/locations/{l}/batchPredictionJobs/{id}          get
    POST /v1beta1/projects/{p}/locations/{l}/batchPredictionJobs/{id}:cancel   cancel ({})
    (and the same under /v1/)

Read 2026-11-30: google-genai 2.34's `google/genai/batches.py` (paths above; it sends
`{displayName, model: "publishers/google/models/M", inputConfig: {instancesFormat: "jsonl",
gcsSource: {uris: [src]}}, outputConfig: {predictionsFormat: "jsonl", gcsDestination:
{outputUriPrefix: dest}}}` and parses `name, displayName, state, error, createTime, startTime,
endTime, updateTime, model, inputConfig, outputConfig, completionStats, outputInfo`; a job name
must end in a numeric id, `t_batch_job_name`), the BatchPredictionJob resource
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs)
and "Batch inference from Cloud Storage" for Gemini
(https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-from-cloud-storage).

Input lines are `{"request": GenerateContentRequest, ...}`; the output is one object,
`{outputUriPrefix}/prediction-model-{createTime}/predictions.jsonl` (`outputInfo.
gcsOutputDirectory` names the folder), one row per input line in input order: `{..the line's
other fields.., "status": "", "processed_time", "request", "response": GenerateContentResponse}`
or, for a failed line, `status` = the error and no `response`. The simulator echoes every other
top-level field of the input line (Vertex carries a BigQuery table's extra columns through the
same way), so a `key` field identifies the line: the system puts the task id there. A failed
line is the provider's own 4xx for that request or a 500 from `batch-line-errors`. An expired job
(`batch-expire`: queued too long) ran nothing and writes nothing; a cancelled one neither.
Filters understood by list: `display_name="X"` and `state="JOB_STATE_…"`, joined by AND.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, cast

from infra.simulator import gcs, gemini_api
from infra.simulator.batch_engine import (
    BatchContext,
    BatchJob,
    BatchRequest,
    Line,
    LineResult,
    Phase,
    Route,
    cancel_handler,
    get_handler,
)
from infra.simulator.faults import Outcome
from infra.simulator.wire import BadRequest, Reply, json_body

PROVIDER = "vertex"
MODEL_PREFIX = "publishers/google/models/"
_STATE = {
    Phase.QUEUED: "JOB_STATE_PENDING",
    Phase.RUNNING: "JOB_STATE_RUNNING",
    Phase.FINALIZING: "JOB_STATE_RUNNING",
    Phase.COMPLETED: "JOB_STATE_SUCCEEDED",
    Phase.FAILED: "JOB_STATE_FAILED",
    Phase.EXPIRED: "JOB_STATE_EXPIRED",
    Phase.CANCELLING: "JOB_STATE_CANCELLING",
    Phase.CANCELLED: "JOB_STATE_CANCELLED",
}
# google.rpc.Code of the job's `error` in each ending that has one.
_ERRORS = {
    Phase.FAILED: 13,  # INTERNAL (3 INVALID_ARGUMENT for an unreadable input, below)
    Phase.EXPIRED: 4,  # DEADLINE_EXCEEDED
    Phase.CANCELLED: 1,  # CANCELLED
}
_LINE_ERROR = {"error": {"code": 500, "status": "INTERNAL", "message": "Internal error "
               "encountered. (simulated by the batch-line-errors fault)"}}  # fmt: skip
_FILTER = re.compile(r'^\s*(?P<field>display_name|state)\s*=\s*"?(?P<value>[^"]*)"?\s*$')


def _fault(outcome: Outcome) -> Reply:
    return gemini_api.fault_reply(outcome, "batchPredictionJobs")


def _time(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")  # fmt: skip


# --- creation -------------------------------------------------------------------------------
def _gcs(config: Any, where: str, path: tuple[str, str], fmt_key: str) -> Any:
    """`config[path[0]][path[1]]` of a jsonl Cloud Storage input or output config."""
    if not isinstance(config, dict):
        raise BadRequest(f"{where} is required")
    if config.get(fmt_key) != "jsonl":
        raise BadRequest(f"{where}.{fmt_key} must be jsonl (the simulator has no BigQuery)")
    outer = config.get(path[0])
    value = outer.get(path[1]) if isinstance(outer, dict) else None
    if not value:
        raise BadRequest(f"{where}.{path[0]}.{path[1]} is required")
    return value


def _parse(body: Any) -> tuple[str, list[str], str]:
    """(model, input URIs, output prefix) of a create request."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = str(body.get("model") or "")
    if not model.startswith(MODEL_PREFIX):
        raise BadRequest(f"model must be {MODEL_PREFIX}MODEL (tuned models are not simulated)")
    uris = _gcs(body.get("inputConfig"), "inputConfig", ("gcsSource", "uris"), "instancesFormat")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise BadRequest("inputConfig.gcsSource.uris must be a list of gs:// URIs")
    prefix = _gcs(body.get("outputConfig"), "outputConfig",
                  ("gcsDestination", "outputUriPrefix"), "predictionsFormat")  # fmt: skip
    return model.removeprefix(MODEL_PREFIX), uris, str(prefix)


def _lines(uris: list[str]) -> list[Line]:
    """The input lines; gcs.StorageError when an object cannot be read."""
    texts = [
        t for uri in uris for t in gcs.read_object(uri).decode("utf-8", "replace").splitlines()
    ]
    lines = []
    for number, text in enumerate(t for t in texts if t.strip()):
        try:
            entry = json.loads(text)
        except json.JSONDecodeError:
            lines.append(Line(str(number), {}, "the line is not valid JSON"))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
            lines.append(Line(str(number), {}, "the line has no 'request' object"))
            continue
        key = entry.get("key")
        lines.append(Line(key if isinstance(key, str) else str(number), entry))
    return lines


def create_job(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
    body = json_body(request.raw)
    try:
        model, uris, prefix = _parse(body)
    except BadRequest as exc:
        return gemini_api.error(400, f"Request contains an invalid argument: {exc.message}")
    if not ctx.models.served(PROVIDER, model):
        return gemini_api.model_not_found(MODEL_PREFIX + model)
    failure = None
    try:
        lines = _lines(uris)
    except gcs.StorageError as exc:
        lines, failure = [], f"Failed to read the input: {exc}"
    mode = ctx.state.batch_job_mode(PROVIDER)
    job = ctx.engine.create(PROVIDER, str(uuid.uuid4().int)[:18], lines, mode, failure)
    job.data.update(
        parent=f"projects/{match['project']}/locations/{match['location']}",
        model=model,
        display_name=str(body.get("displayName") or job.id),
        input_config=body["inputConfig"],
        output_config=body["outputConfig"],
        prefix=prefix,
        labels=body.get("labels"),
        input_unreadable=failure is not None,
    )
    return Reply(200, job_resource(ctx, job))


# --- running: predictions.jsonl -------------------------------------------------------------
def _row(job: BatchJob, result: LineResult) -> dict[str, Any]:
    line = result.line
    entry = line.request if isinstance(line.request, dict) else {}
    echoed = {k: v for k, v in entry.items() if k != "request"}
    row: dict[str, Any] = {**echoed, "status": "", "processed_time": _time(job.at(1.0))}
    row["request"] = entry.get("request")
    reply = result.reply
    if line.problem is not None:
        row["status"] = f"Bad Request: {line.problem}"
    elif reply is None:
        row["status"] = f"Internal Server Error: {json.dumps(_LINE_ERROR)}"
    elif reply.status != 200:
        row["status"] = f"{HTTPStatus(reply.status).phrase}: {json.dumps(reply.body)}"
    else:
        row["response"] = reply.body
    return row


def _settle(ctx: BatchContext, job: BatchJob) -> dict[str, Any]:
    """Answer the lines and write predictions.jsonl (nothing for an expired job)."""
    total = len(job.lines)
    if job.phase() == Phase.EXPIRED:
        return {
            "stats": {"successfulCount": "0", "failedCount": "0", "incompleteCount": str(total)}
        }
    model = job.data["model"]
    resource = f"{job.data['parent']}/{MODEL_PREFIX}{model}"

    def run(line: Line) -> Reply:
        if line.problem is not None:
            return gemini_api.error(400, line.problem)
        return gemini_api.complete(line.request["request"], model, resource, ctx.cache, ctx.models)

    rows = [_row(job, result) for result in job.answer(run)]
    folder = f"{job.data['prefix'].rstrip('/')}/prediction-model-{_time(job.created_at)}"
    try:
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
        gcs.write_object(f"{folder}/predictions.jsonl", data)
    except gcs.StorageError as exc:
        job.failure = f"Failed to write the predictions: {exc}"
        return {
            "stats": {"successfulCount": "0", "failedCount": "0", "incompleteCount": str(total)}
        }
    ok = sum(1 for row in rows if "response" in row)
    stats = {"successfulCount": str(ok), "failedCount": str(total - ok), "incompleteCount": "0"}
    return {"stats": stats, "output": {"gcsOutputDirectory": folder}}


# --- what a job shows -----------------------------------------------------------------------
def _times(job: BatchJob, phase: Phase) -> dict[str, str]:
    times = {"createTime": _time(job.created_at)}
    cancel, late = job.cancel_at, job.data.get("failed_late")
    started = phase != Phase.QUEUED and (phase != Phase.FAILED or late)
    if started and (cancel is None or cancel >= job.at(0.1)):
        times["startTime"] = _time(job.at(0.1))
    end = {
        Phase.COMPLETED: job.at(1.0),
        Phase.EXPIRED: job.at(1.0),
        Phase.FAILED: job.at(1.0 if late else 0.1),
        Phase.CANCELLED: (cancel or 0.0) + 0.1 * job.delay_s,
    }.get(phase)
    if end is not None:
        times["endTime"] = _time(end)
    times["updateTime"] = times.get("endTime", times.get("startTime", times["createTime"]))
    return times


def _error(job: BatchJob, phase: Phase) -> dict[str, Any] | None:
    code = _ERRORS.get(phase)
    if code is None:
        return None
    if phase == Phase.FAILED:
        return {"code": 3 if job.data.get("input_unreadable") else code, "message": job.failure}
    if phase == Phase.EXPIRED:
        return {"code": code, "message": "The job stayed queued past its limit and expired "
                "(simulated by the batch-expire fault)."}  # fmt: skip
    return {"code": code, "message": "CANCELED"}


def job_resource(ctx: BatchContext, job: BatchJob) -> dict[str, Any]:
    phase = job.phase()
    settled: dict[str, Any] = {}
    if phase in (Phase.COMPLETED, Phase.EXPIRED):
        failed_before = job.failure is not None
        settled = cast(dict[str, Any], job.settle(lambda j: _settle(ctx, j)))
        job.data["failed_late"] = job.data.get("failed_late") or (
            not failed_before and job.failure is not None)  # fmt: skip
        phase = job.phase()
    resource: dict[str, Any] = {
        "name": f"{job.data['parent']}/batchPredictionJobs/{job.id}",
        "displayName": job.data["display_name"],
        "model": MODEL_PREFIX + job.data["model"],
        "inputConfig": job.data["input_config"],
        "outputConfig": job.data["output_config"],
        "state": _STATE[phase],
        **_times(job, phase),
    }
    optional = {
        "error": _error(job, phase),
        "completionStats": settled.get("stats"),
        "outputInfo": settled.get("output"),
        "labels": job.data.get("labels"),
    }
    resource.update({key: value for key, value in optional.items() if value is not None})
    return resource


def _job(ctx: BatchContext, match: re.Match[str]) -> BatchJob | Reply:
    job = ctx.engine.get(PROVIDER, match["job_id"])
    parent = f"projects/{match['project']}/locations/{match['location']}"
    if job is None or job.data["parent"] != parent:
        name = f"{parent}/batchPredictionJobs/{match['job_id']}"
        return gemini_api.error(404, f"The BatchPredictionJob {name} does not exist.")
    return job


def _shown(ctx: BatchContext, job: BatchJob) -> Reply:
    return Reply(200, job_resource(ctx, job))


def _not_cancelled(job: BatchJob) -> Reply:
    message = f"The BatchPredictionJob cannot be cancelled in state {_STATE[job.phase()]}."
    error = {"code": 400, "message": message, "status": "FAILED_PRECONDITION"}
    return Reply(400, {"error": error})


def _cancelling(ctx: BatchContext, job: BatchJob) -> Reply:
    return Reply(200, {})  # google.protobuf.Empty


def _matcher(text: str) -> dict[str, str]:
    """A list filter as {field: value}; BadRequest for what the simulator does not read."""
    wanted = {}
    for clause in (c for c in re.split(r"\s+AND\s+", text.strip()) if c):
        found = _FILTER.match(clause)
        if found is None:
            raise BadRequest(f"unsupported filter {clause!r} (display_name=, state=, AND)")
        wanted[found["field"]] = found["value"]
    return wanted


def list_jobs(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
    try:
        wanted = _matcher(request.query.get("filter", ""))
    except BadRequest as exc:
        return gemini_api.error(400, f"Request contains an invalid argument: {exc.message}")
    size_text, token = request.query.get("pageSize", "100"), request.query.get("pageToken", "0")
    if not size_text.isdigit() or not token.isdigit():
        return gemini_api.error(400, "Request contains an invalid argument: pageSize/pageToken")
    parent = f"projects/{match['project']}/locations/{match['location']}"
    resources = [job_resource(ctx, job) for job in ctx.engine.jobs(PROVIDER)
                 if job.data["parent"] == parent]  # fmt: skip
    fields = {"display_name": "displayName", "state": "state"}
    chosen = [r for r in resources if all(r[fields[f]] == v for f, v in wanted.items())]
    start, size = int(token), max(1, min(int(size_text) or 100, 1000))
    body: dict[str, Any] = {"batchPredictionJobs": chosen[start : start + size]}
    if start + size < len(chosen):
        body["nextPageToken"] = str(start + size)
    return Reply(200, body)


_BASE = r"^/(?:v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/"
_JOBS = _BASE + r"batchPredictionJobs"
_ONE = _JOBS + r"/(?P<job_id>[^/:]+)"
ROUTES = tuple(
    Route(PROVIDER, method, re.compile(pattern), handler, _fault)
    for method, pattern, handler in (
        ("POST", _JOBS + "$", create_job),
        ("GET", _JOBS + "$", list_jobs),
        ("GET", _ONE + "$", get_handler(_job, _shown)),
        ("POST", _ONE + ":cancel$", cancel_handler(_job, _not_cancelled, _cancelling)),
    )
)
