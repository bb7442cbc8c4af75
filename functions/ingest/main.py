"""Ingest: the public HTTP entry (`POST /tasks`, `GET /tasks/{id}`, `GET /health`, `POST /`)
and the subscriber of the `tasks` topic. Logic: shared/ingest.py, shared/http_api.py."""

from typing import Any

import functions_framework

from shared.compose.ingest import handle_ingest_event, handle_ingest_http
from shared.http_api import register_json_errors

# functions-framework loads this module inside its Flask app and exposes that app's
# `errorhandler`: its own errors (404 for /robots.txt, a crash) become JSON like ours.
register_json_errors(functions_framework.errorhandler)


@functions_framework.http
def ingest_http(request: Any) -> Any:
    return handle_ingest_http(request)


@functions_framework.cloud_event
def ingest_event(event: Any) -> None:
    handle_ingest_event(event)
