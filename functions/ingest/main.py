"""Ingest: the public HTTP entry (`POST /tasks`, `GET /tasks/{id}`, `GET /health`, `POST /`)
and the subscriber of the `tasks` topic. Logic: shared/ingest.py, shared/http_api.py."""

from typing import Any

import functions_framework

from shared.entrypoints import handle_ingest_event, handle_ingest_http


@functions_framework.http
def ingest_http(request: Any) -> Any:
    return handle_ingest_http(request)


@functions_framework.cloud_event
def ingest_event(event: Any) -> None:
    handle_ingest_event(event)
