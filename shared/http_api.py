"""The ingest function's HTTP routes (a Flask request in, a JSON response out).

Errors are always `{"error": {"code", "message", "field"}}` with a status that says who is wrong.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

import flask

from shared.auth import Admission
from shared.circuit import circuit_states
from shared.ingest import Ingest, RequestProblemError
from shared.providers.registry import known_providers
from shared.request_guard import read_body
from shared.schemas import FieldProblem, TaskStatus, check_task_id
from shared.settings import Settings

logger = logging.getLogger(__name__)
_TASK_PATH = re.compile(r"^/tasks/(?P<task_id>[^/]+)/?$")
DEFAULT_CLIENT = "anonymous"


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


def problem(status: int, code: str, message: str, field: str | None = None) -> Any:
    return respond(
        {"error": FieldProblem(code=code, message=message, field=field).model_dump()}, status
    )


class HttpApi:
    def __init__(
        self, settings: Settings, ingest: Ingest, admission: Admission | None = None
    ) -> None:
        self.settings = settings
        self.ingest = ingest
        # Who may call, and how often (shared/auth.py); without API keys: `anonymous`.
        self.admission = admission or Admission.from_settings(settings, lambda: ingest.store.client)

    def handle(self, request: flask.Request) -> Any:  # noqa: PLR0911 - a return per route
        path, method = request.path, request.method
        try:
            if path in ("/tasks", "/tasks/"):
                return self._only(method, "POST") or self.post_task(request)
            match = _TASK_PATH.match(path)
            if match:
                return self._only(method, "GET") or self.get_task(match["task_id"], request)
            if path == "/health":
                return self._only(method, "GET") or self.health()
            if path == "/openapi.json":
                return self._only(method, "GET") or self.openapi()
            if path == "/":
                return self._only(method, "POST") or self.v2_execute(request)
            return problem(404, "not_found", f"no route {path}")
        except RequestProblemError as error:
            return respond({"error": error.problem.model_dump()}, error.status, error.headers)

    @staticmethod
    def _only(method: str, allowed: str) -> Any:
        if method == allowed:
            return None
        return problem(405, "method_not_allowed", f"use {allowed}")

    def _read(self, request: flask.Request, *, json_type_required: bool = True) -> Any:
        # Header and size checks first (request_guard), then the JSON checks and validation.
        body = read_body(request, self.settings, json_type_required=json_type_required)
        return self.ingest.parse(body)

    def post_task(self, request: flask.Request) -> Any:
        caller = self.admission.admit(request.headers)  # 401/403, then 429
        wait_s = self._wait_param(request)
        submission = self.ingest.submit(
            self._read(request), caller.client_id, caller.monthly_budget_usd
        )
        task = submission.task
        if wait_s > 0 and TaskStatus(task["status"]) not in _TERMINAL:
            task = self.ingest.store.wait_for_terminal(task["task_id"], wait_s) or task
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

    def get_task(self, task_id: str, request: flask.Request) -> Any:
        caller = self.admission.authenticate(request.headers)
        task = self.ingest.store.get(task_id) if _valid_id(task_id) else None
        # Another client's task is "not found", not "forbidden": ids must not leak.
        if task is None or not self.admission.may_read(caller, task):
            return problem(404, "not_found", f"no task {task_id}")
        return respond({k: v for k, v in task.items() if not k.startswith("lease_")}, 200)

    def health(self) -> Any:
        try:
            circuits = circuit_states(self.settings, self.ingest.store.client)
        except Exception:  # health must answer even when Firestore does not
            logger.exception("could not read circuit states")
            circuits = {}
        providers = [
            {
                "name": name,
                "topic": self.settings.provider_topic(name),
                "model": getattr(self.settings, f"{name}_model", None),
                "configured": name in known_providers() and self.settings.provider_configured(name),
                "circuit": circuits.get(name, {}).get("state", "unknown"),
            }
            for name in self.settings.providers
        ]
        return respond(
            {"status": "ok", "version": self.settings.version, "providers": providers}, 200
        )

    def openapi(self) -> Any:
        """The OpenAPI document of these routes; it lives in `shared/` to ship with the code."""
        from pathlib import Path

        document = (Path(__file__).parent / "data" / "openapi.json").read_bytes()
        return flask.Response(document, status=200, mimetype="application/json")

    def v2_execute(self, request: flask.Request) -> Any:
        """The V2 backend's synchronous call, kept for its clients: submit, wait, answer.

        V2 clients may send JSON without a Content-Type; a non-JSON type is still refused.
        """
        caller = self.admission.admit(request.headers)
        request_body = self._read(request, json_type_required=False)
        submission = self.ingest.submit(request_body, caller.client_id, caller.monthly_budget_usd)
        task_id = submission.task["task_id"]
        task = self.ingest.store.wait_for_terminal(task_id, self.settings.sync_wait_s)
        task = task or submission.task
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


_TERMINAL = {s for s in TaskStatus if s.terminal}


def _valid_id(task_id: str) -> bool:
    try:
        check_task_id(task_id)
    except ValueError:
        return False
    return True
