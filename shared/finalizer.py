"""The end of the line: a task on `tasks-dead` has no provider left, so it fails — visibly.

Besides hand-overs from the last worker, `tasks-dead` receives what Pub/Sub dead-lettered (a
worker crash loop, a poison message on `tasks`): each is recorded, none is silently dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from shared import metric_events
from shared.bus import Bus
from shared.events import PubSubMessage, topic_of_subscription
from shared.pubsub_clients import pubsub_client
from shared.request_problems import readable_task_id
from shared.results import publish_result
from shared.schemas import FieldProblem, TaskMessage
from shared.settings import TaskSettings
from shared.store import TaskStore
from shared.structured_logs import log, task_context

logger = logging.getLogger(__name__)


class Finalizer:
    def __init__(self, settings: TaskSettings, store: TaskStore, bus: Bus) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus

    def process(self, message: PubSubMessage) -> str:
        try:
            task_message = TaskMessage.model_validate_json(message.data)
        except ValidationError:
            return self._not_a_task_message(message)
        with task_context(task_message.task_id):
            task = self.store.get(task_message.doc)
            if task is None:
                log(logger, logging.ERROR, "dead task message for a task that does not exist")
                return "missing"
            failed = self.store.fail(task_message.doc, failure_error(task, message))
            if failed is None:
                log(logger, logging.INFO, "task already terminal; nothing to finalize")
                return "terminal"
            publish_result(self.bus, self.settings, failed)
            log(
                logger,
                logging.WARNING,
                "task failed",
                code=failed["error"]["code"],
                attempts=len(failed.get("attempts", [])),
            )
            metric_events.task_finished(logger, failed, by="finalizer")
            if message.dead_letter_source:
                metric_events.dead_lettered(logger, message.dead_letter_source, recorded=True)
            return "failed"

    def _not_a_task_message(self, message: PubSubMessage) -> str:
        """A raw request dead-lettered from `tasks`: ingest could not take it in five tries."""
        task_id = readable_task_id(message.data)
        # The client as ingest would have seen it (its topic: the subscription it left).
        topic = topic_of_subscription(message.dead_letter_source)
        client_id, _refused = pubsub_client(self.settings, message.attributes, topic)
        doc_id = self.store.doc_id(task_id, client_id) if task_id else None
        with task_context(task_id):
            recorded = False
            if task_id and doc_id and self.store.get(doc_id) is None:
                recorded = (
                    self.store.record_rejection(
                        task_id,
                        client_id,
                        FieldProblem(
                            code="ingest_failed",
                            message="the task could not be accepted after repeated deliveries",
                        ),
                        doc_id=doc_id,
                    )
                    is not None
                )
            log(
                logger,
                logging.ERROR,
                "unprocessable message on the dead-letter topic",
                message_id=message.message_id,
                source=message.dead_letter_source,
                recorded=recorded,  # a document written, not merely an id read
            )
            if message.dead_letter_source:
                metric_events.dead_lettered(logger, message.dead_letter_source, recorded)
            return "unprocessable"


def failure_error(task: dict[str, Any], message: PubSubMessage) -> dict[str, str]:
    """One line a user can act on: which providers failed and how."""
    attempts = task.get("attempts") or []
    last_by_provider: dict[str, str] = {}
    for attempt in attempts:
        error = attempt.get("error") or {}
        last_by_provider[attempt["provider"]] = str(error.get("code", attempt.get("outcome")))
    summary = "; ".join(f"{p}: {code}" for p, code in last_by_provider.items())
    if message.dead_letter_source:
        return {
            "code": "dead_lettered",
            "message": f"delivery failed repeatedly on {message.dead_letter_source}"
            + (f" (attempts: {summary})" if summary else ""),
        }
    return {
        "code": "all_providers_failed",
        "message": f"every provider in the chain failed ({summary or 'no attempts recorded'})",
    }
