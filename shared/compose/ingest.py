"""The ingest function's wiring: the HTTP door (keys, rate limits, budgets, routes) and the
`tasks` topic door, both in front of one `Ingest`."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from opentelemetry.trace import SpanKind

from shared.auth import PepperMissingError
from shared.bus import Bus
from shared.compose.pubsub import delivered_message
from shared.events import PubSubMessage, source_topic
from shared.http_api import HttpApi, problem
from shared.ingest import Ingest, RequestProblemError
from shared.pubsub_clients import pubsub_client
from shared.schemas import FieldProblem
from shared.settings import ingest_settings
from shared.store import TaskStore
from shared.structured_logs import log
from shared.tracing import entry_span, start_function

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def ingest_service() -> Ingest:
    settings = ingest_settings()
    start_function("ingest", settings, settings.project_id)
    return Ingest(settings, TaskStore(settings), Bus(settings))


@lru_cache(maxsize=1)
def http_api() -> HttpApi:
    return HttpApi(ingest_settings(), ingest_service())


def handle_ingest_http(request: Any) -> Any:
    try:
        api = http_api()
    except PepperMissingError as error:  # keys required but no pepper: refuse, never guess
        log(logger, logging.CRITICAL, "ingest is misconfigured", reason=str(error))
        return problem(503, "misconfigured", "the service is misconfigured; see its logs")
    if request.method != "POST":  # reads and probes: no task starts here, so no trace
        return api.handle(request)
    # A task's trace starts here, or continues the caller's (an incoming `traceparent`).
    with entry_span("ingest", request.headers, kind=SpanKind.SERVER, route=request.path):
        return api.handle(request)


def handle_ingest_event(event: Any) -> None:
    service = ingest_service()
    message = delivered_message(event)
    if message is None:
        return
    # Who it is from: the client's own topic, or the checked `client_id` attribute.
    client_id, refused = pubsub_client(service.settings, message.attributes, source_topic(event))
    with entry_span("ingest", message.attributes, message_id=message.message_id):
        _ingest_message(service, message, client_id, refused)


def _ingest_message(
    service: Ingest, message: PubSubMessage, client_id: str, refused: FieldProblem | None
) -> None:
    try:
        if refused is not None:
            raise RequestProblemError(refused)
        request = service.parse(message.data)
        service.submit(request, client_id)
    except RequestProblemError as error:
        service.reject_message(message.data, error.problem, client_id)
