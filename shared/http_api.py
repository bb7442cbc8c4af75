"""The ingest function's HTTP routes (a Flask request in, a JSON response out).

Routing is Werkzeug's (`ROUTES`): an unknown path is 404 `not_found`, a known one with another
method 405 `method_not_allowed` with `Allow`, `OPTIONS` 204 with `Allow`. Errors are always
`{"error": {"code", "message", "field"}}` as `application/json`, with a status that says who is
wrong — including errors raised by Flask, Werkzeug or functions-framework themselves, through
`register_json_errors`, and anything unexpected (500 `internal`, details only in the log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from shared.auth import Admission, presented_key
from shared.batch.open_jobs import open_jobs_summary
from shared.circuit import circuit_states
from shared.clock import utcnow
from shared.ingest import Ingest, RequestProblemError
from shared.model_lifecycle import today_utc
from shared.model_lifecycle import warnings as model_warnings
from shared.openapi import render_openapi
from shared.providers.registry import known_providers
from shared.request_guard import read_body
from shared.schemas import TERMINAL_STATUSES as _TERMINAL
from shared.schemas import FieldProblem, TaskRequest, TaskStatus, check_task_id
from shared.settings import IngestSettings
from shared.status_data import read_status
from shared.status_page import HEADERS as STATUS_HEADERS
from shared.status_page import render_status
from shared.task_ids import doc_id_of
from shared.task_view import public_view
from shared.waits import WaitSlots, instance_cap, request_threads

logger = logging.getLogger(__name__)
DEFAULT_CLIENT = "anonymous"
# Trailing slashes are tolerated (`/tasks/` is `/tasks`) without a redirect, and `//` is not
# merged into `/` by a redirect either: every answer is this API's own JSON.
ROUTES = Map(
    [
        Rule("/tasks", endpoint="post_task", methods=["POST"]),
        Rule("/tasks/<task_id>", endpoint="get_task", methods=["GET"]),
        Rule("/health", endpoint="health", methods=["GET"]),
        Rule("/openapi.json", endpoint="openapi", methods=["GET"]),
        Rule("/status", endpoint="status_page", methods=["GET"]),
        Rule("/", endpoint="v2_execute", methods=["POST"]),
    ],
    strict_slashes=False,
    merge_slashes=False,
)
# What Werkzeug's own errors are called here (other statuses: `http_<status>`).
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    411: "length_required",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "headers_too_large",
    500: "internal",
}


def jsonable(value: Any) -> Any:
    """Firestore values (timestamps) as JSON."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def respond(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Any:
    return flask.Response(
        json.dumps(jsonable(body)), status=status, mimetype="application/json", headers=headers
    )


def problem(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    return respond(
        {"error": FieldProblem(code=code, message=message, field=field).model_dump()},
        status,
        headers,
    )


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allow(methods: Iterable[str]) -> str:
    """An `Allow` header value in a stable order (Werkzeug's comes from a set)."""
    rank = {method: index for index, method in enumerate(_METHOD_ORDER)}
    return ", ".join(sorted(set(methods), key=lambda m: (rank.get(m, len(rank)), m)))


def http_error(error: HTTPException) -> Any:
    """A Werkzeug/Flask HTTP error as this API's JSON error (never Werkzeug's HTML page)."""
    status = error.code or 500
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = allow(error.valid_methods)
    if status == 404:
        message = f"no route {flask.request.path}" if flask.has_request_context() else "not found"
    elif status == 405:
        message = f"use {headers.get('Allow', 'another method')}"
    elif status >= 500:
        message = "the service failed; see its logs"
    else:  # Werkzeug's descriptions are generic and never echo the request
        message = (error.description or error.name).strip()
    return problem(status, _HTTP_CODES.get(status, f"http_{status}"), message, headers=headers)


def internal_error(error: Exception) -> Any:
    """Anything unexpected: logged with its traceback, answered without it."""
    original = getattr(error, "original_exception", None) or error
    logger.error("unhandled error in ingest", exc_info=original)
    return problem(500, "internal", "the service failed; see its logs")


def register_json_errors(errorhandler: Callable[[Any], Any]) -> None:
    """Make the app's own errors JSON: 404 for functions-framework's `/robots.txt` and
    `/favicon.ico`, a body Werkzeug cannot read, a crash (instead of its text/plain 500).

    `errorhandler` is Flask's `app.errorhandler` (functions-framework exposes the running
    app's as `functions_framework.errorhandler`).
    """
    errorhandler(HTTPException)(http_error)
    errorhandler(500)(internal_error)
    errorhandler(Exception)(internal_error)


class HttpApi:
    def __init__(
        self,
        settings: IngestSettings,
        ingest: Ingest,
        admission: Admission | None = None,
        waits: WaitSlots | None = None,
    ) -> None:
        self.settings = settings
        self.ingest = ingest
        # Who may call, and how often (shared/auth.py); without API keys: `anonymous`.
        self.admission = admission or Admission.from_settings(settings, lambda: ingest.store.client)
        # How many requests may wait for a result at once (shared/waits.py); per client only
        # when clients are identified by API keys.
        self.waits = waits or WaitSlots(
            settings.max_waits_per_client if settings.api_keys_required else None,
            instance_cap(request_threads()),
        )
        self._openapi: tuple[date, bytes] | None = None

    def handle(self, request: flask.Request) -> Any:
        try:
            endpoint, args = ROUTES.bind_to_environ(request.environ).match()
        except MethodNotAllowed as error:
            return _options(error) if request.method == "OPTIONS" else http_error(error)
        except NotFound as error:
            return http_error(error)
        try:
            route: Callable[..., Any] = getattr(self, endpoint)
            return route(request, **args)
        except RequestProblemError as error:
            return respond({"error": error.problem.model_dump()}, error.status, error.headers)
        except HTTPException as error:  # e.g. Werkzeug failing to read the body
            return http_error(error)
        except Exception as error:  # noqa: BLE001 - answered as JSON 500, logged in full
            return internal_error(error)

    def _read(self, request: flask.Request, *, json_type_required: bool = True) -> Any:
        # Header and size checks first (request_guard), then the JSON checks and validation.
        body = read_body(request, self.settings, json_type_required=json_type_required)
        return self.ingest.parse(body)

    def post_task(self, request: flask.Request) -> Any:
        caller = self.admission.admit(request.headers)  # 401/403, then 429
        wait_s = self._wait_param(request)
        task_request = self._read(request)
        wait_s = _lane_wait(task_request, wait_s)
        # A slot before the task exists (429 too_many_waits creates nothing); none when this
        # client already waits on this task_id: that request is answered at once.
        with self.waits.hold(caller.client_id, task_request.task_id, wait_s) as may_wait:
            submission = self.ingest.submit(
                task_request,
                caller.client_id,
                caller.monthly_budget_usd,
                rate_per_s=caller.rate_per_s,
            )
            task = submission.task
            if may_wait and TaskStatus(task["status"]) not in _TERMINAL:
                task = self.ingest.store.wait_for_terminal(doc_id_of(task), wait_s) or task
        status_url = f"{request.host_url.rstrip('/')}/tasks/{task['task_id']}"
        body = {"task_id": task["task_id"], "status": task["status"], "status_url": status_url}
        if TaskStatus(task["status"]) in _TERMINAL:
            body |= {k: task.get(k) for k in ("result", "usage", "error")}
            return respond(body, 200)
        return respond(body, 202)

    def _wait_param(self, request: flask.Request) -> float:
        raw = request.args.get("wait")
        if raw is None:
            return 0.0
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value <= self.settings.wait_max_s:
            raise RequestProblemError(
                FieldProblem(
                    code="invalid_field",
                    message=f"wait: must be a number of seconds from 0 to "
                    f"{self.settings.wait_max_s:g}",
                    field="wait",
                )
            )
        return value

    def get_task(self, request: flask.Request, task_id: str) -> Any:
        caller = self.admission.authenticate(request.headers)
        # The caller's own task `task_id` (with API keys, `{client}~{task_id}`: shared/task_ids.py)
        doc_id = self.ingest.store.doc_id(task_id, caller.client_id)
        task = self.ingest.store.get(doc_id) if _valid_id(task_id) else None
        # Another client's task is "not found", not "forbidden": ids must not leak.
        if task is None or not self.admission.may_read(caller, task):
            return problem(404, "not_found", f"no task {task_id}")
        return respond(public_view(task), 200)  # the view a completion callback posts

    def health(self, request: flask.Request) -> Any:
        """`{status, version}`; with the details (providers, circuits, model warnings, the batch
        lane's open jobs) when the caller may see them: anyone when ingest is IAM-only (Cloud Run
        authenticated them), else only a caller with a valid API key. The minimal answer reads
        nothing (no Firestore)."""
        document: dict[str, Any] = {"status": "ok", "version": self.settings.version}
        if self.settings.api_keys_required and presented_key(request.headers) is None:
            return respond(document, 200)
        self.admission.authenticate(request.headers)  # a key that is not valid: 401/403
        try:
            circuits = circuit_states(self.settings, self.ingest.store.client)
        except Exception:  # health must answer even when Firestore does not
            logger.exception("could not read circuit states")
            circuits = {}
        providers = [
            {
                "name": name,
                "topic": self.settings.provider_topic(name),
                "model": self.settings.default_model(name),
                "configured": name in known_providers() and self.settings.provider_configured(name),
                "circuit": circuits.get(name, {}).get("state", "unknown"),
            }
            for name in self.settings.providers
        ]
        document |= {"providers": providers, "model_warnings": model_warnings(self.settings)}
        document["batch"] = self._batch_health()
        return respond(document, 200)

    def _batch_health(self) -> dict[str, Any] | None:
        """The batch lane's open jobs (None when Firestore did not answer: health answers)."""
        try:
            return open_jobs_summary(self.settings, lambda: self.ingest.store.client, utcnow())
        except Exception:
            logger.exception("could not read the open batch jobs")
            return None

    def openapi(self, _request: flask.Request) -> Any:
        """The OpenAPI document of these routes, with this deployment's providers, limits and
        allowed models (rendered once a day: models retire by date)."""
        today = today_utc()
        if self._openapi is None or self._openapi[0] != today:
            document = render_openapi(self.settings, today)
            self._openapi = (today, json.dumps(document, ensure_ascii=False).encode())
        return flask.Response(self._openapi[1], status=200, mimetype="application/json")

    def status_page(self, request: flask.Request) -> Any:
        """The read-only HTML status page (shared/status_page.py), behind the API's
        authentication; it reads counters and rollups only (shared/status_data.py)."""
        caller = self.admission.authenticate(request.headers)
        own = caller.client_id if self.settings.api_keys_required else None
        view = read_status(self.settings, self.ingest.store.client, utcnow(), own)
        return flask.Response(
            render_status(view), status=200, mimetype="text/html", headers=STATUS_HEADERS
        )

    def v2_execute(self, request: flask.Request) -> Any:
        """The V2 backend's synchronous call, kept for its clients: submit, wait, answer.

        V2 clients may send JSON without a Content-Type; a non-JSON type is still refused.
        """
        caller = self.admission.admit(request.headers)
        request_body = self._read(request, json_type_required=False)
        wait_s = _lane_wait(request_body, self.settings.sync_wait_s)
        with self.waits.hold(caller.client_id, request_body.task_id, wait_s) as may_wait:
            submission = self.ingest.submit(
                request_body,
                caller.client_id,
                caller.monthly_budget_usd,
                rate_per_s=caller.rate_per_s,
            )
            task_id = submission.task["task_id"]
            task = submission.task
            if may_wait and TaskStatus(task["status"]) not in _TERMINAL:
                task = self.ingest.store.wait_for_terminal(doc_id_of(task), wait_s) or task
        if task["status"] == TaskStatus.SUCCEEDED:
            result = task["result"]
            return respond(
                {
                    "status": "task_executed_with_ai",
                    "provider": result["provider"],
                    "model": result["model"],
                    "ai_response": result["text"],
                    "request_id": task_id,
                },
                200,
            )
        if TaskStatus(task["status"]) in _TERMINAL:
            return respond(
                {"status": "task_failed", "error": task.get("error"), "request_id": task_id}, 502
            )
        return respond(
            {
                "status": "task_pending",
                "request_id": task_id,
                "status_url": f"{request.host_url.rstrip('/')}/tasks/{task_id}",
            },
            202,
        )


def _lane_wait(task_request: TaskRequest, wait_s: float) -> float:
    """A batch task takes hours (the provider's batch window): no request is held for it; it
    is answered at once (202) with where to read it."""
    return 0.0 if task_request.lane == "batch" else wait_s


def _options(error: MethodNotAllowed) -> Any:
    """`OPTIONS` on a known path: 204 and the methods it answers (no body)."""
    if not error.valid_methods:
        return http_error(error)
    response = flask.Response(status=204, headers={"Allow": allow(error.valid_methods)})
    del response.headers["Content-Type"]  # no body, so no type (not Flask's text/html)
    return response


def _valid_id(task_id: str) -> bool:
    try:
        check_task_id(task_id)
    except ValueError:
        return False
    return True
