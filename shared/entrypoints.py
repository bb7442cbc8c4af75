"""What each deployed function runs: wiring (settings, clients) plus the ack/nack policy.

A handler that returns normally acks the Pub/Sub delivery; one that raises nacks it. So: bad
*content* is recorded and returns (no poison loop); *infrastructure* failures raise (retry).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from shared.auth import PepperMissingError
from shared.bus import Bus
from shared.circuit import CircuitBreaker
from shared.events import MalformedEnvelopeError, PubSubMessage, decode, source_topic
from shared.finalizer import Finalizer
from shared.http_api import HttpApi, problem
from shared.ingest import Ingest, RequestProblemError, pubsub_client
from shared.providers.registry import get_provider
from shared.schemas import TaskMessage
from shared.settings import get_settings
from shared.store import TaskStore
from shared.structured_logs import configure, log, task_context
from shared.sweeper import Sweeper
from shared.worker import Worker

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _clients() -> tuple[TaskStore, Bus]:
    settings = get_settings()
    return TaskStore(settings), Bus(settings)


@lru_cache(maxsize=1)
def ingest_service() -> Ingest:
    configure("ingest")
    store, bus = _clients()
    return Ingest(get_settings(), store, bus)


@lru_cache(maxsize=1)
def http_api() -> HttpApi:
    return HttpApi(get_settings(), ingest_service())


@lru_cache(maxsize=1)
def worker_service() -> Worker:
    settings = get_settings()
    if not settings.provider:
        raise RuntimeError("a worker needs PROVIDER (or AIEXEC_PROVIDER) set to its provider")
    configure(f"worker-{settings.provider}")
    store, bus = _clients()
    breaker = CircuitBreaker(settings, lambda: store.client, settings.provider)
    return Worker(settings, store, bus, get_provider(settings.provider, settings), breaker)


@lru_cache(maxsize=1)
def finalizer_service() -> Finalizer:
    configure("finalizer")
    store, bus = _clients()
    return Finalizer(get_settings(), store, bus)


@lru_cache(maxsize=1)
def sweeper_service() -> Sweeper:
    configure("sweeper")
    store, bus = _clients()
    return Sweeper(get_settings(), store, bus)


def _message(event: Any) -> PubSubMessage | None:
    try:
        return decode(event.data)
    except MalformedEnvelopeError as error:
        log(logger, logging.ERROR, "not a Pub/Sub delivery; acked", reason=str(error))
        return None


def handle_ingest_http(request: Any) -> Any:
    try:
        api = http_api()
    except PepperMissingError as error:  # keys required but no pepper: refuse, never guess
        log(logger, logging.CRITICAL, "ingest is misconfigured", reason=str(error))
        return problem(503, "misconfigured", "the service is misconfigured; see its logs")
    return api.handle(request)


def handle_ingest_event(event: Any) -> None:
    service = ingest_service()
    message = _message(event)
    if message is None:
        return
    # Who it is from: the client's own topic, or the checked `client_id` attribute (ingest.py).
    client_id, refused = pubsub_client(service.settings, message.attributes, source_topic(event))
    try:
        if refused is not None:
            raise RequestProblemError(refused)
        request = service.parse(message.data)
        service.submit(request, client_id)
    except RequestProblemError as error:
        service.reject_message(message.data, error.problem, client_id)


def handle_worker_event(event: Any) -> None:
    worker = worker_service()
    message = _message(event)
    if message is None:
        return
    try:
        task_message = TaskMessage.model_validate_json(message.data)
    except ValidationError as error:
        log(
            logger,
            logging.ERROR,
            "malformed task message; acked",
            message_id=message.message_id,
            reason=str(error.errors(include_url=False)[0].get("msg")),
        )
        return
    with task_context(task_message.task_id):
        worker.process(task_message, message.dead_letter_source)


def handle_finalizer_event(event: Any) -> None:
    finalizer = finalizer_service()
    message = _message(event)
    if message is not None:
        finalizer.process(message)


def handle_sweeper_event(event: Any) -> None:
    """Any message on `sweep-requests` triggers one sweep; its content does not matter."""
    sweeper_service().sweep()
