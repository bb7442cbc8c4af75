"""The callbacks function: a completion event on `task-results` → one signed POST of the task's
public view to its `callback_url`, recorded on the task (shared/firestore/callbacks.py).

Retries go through Pub/Sub: a failure that may pass raises (the delivery is nacked and
redelivered with the subscription's back-off) until `callback_max_attempts`; then, or at once
for a final failure, the callback is recorded `failed` and the event acked. The `webhook-id` is
derived from the task and its completion, so every retry, and every duplicate event, carries
the same one, and a callback `delivered` is never sent again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from pydantic import ValidationError

from shared import tracing
from shared.callbacks.address import pinned_callback
from shared.callbacks.delivery import Answer, post
from shared.callbacks.signing import headers as signed_headers
from shared.clock import utcnow
from shared.errors import AIExecError
from shared.events import CALLBACK_ATTRIBUTE, PubSubMessage
from shared.firestore.callbacks import CallbackRecords, ClaimKind
from shared.outbound_urls import OutboundUrlError
from shared.schemas import ResultEvent
from shared.settings import TaskSettings
from shared.structured_logs import log, task_context
from shared.task_view import public_view

logger = logging.getLogger(__name__)
HOLD_MARGIN_S = 15.0  # a claim outlives the POST's timeout by this much


class CallbackRetryError(AIExecError):
    """This attempt failed in a way that may pass: nack, and Pub/Sub redelivers later."""


def webhook_id(task: dict[str, Any]) -> str:
    """The same for every retry of one completion (a replayed task's next one differs); no `.`
    (the spec's rule for ids inside the signed text)."""
    completion = f"{task.get('doc_id') or task['task_id']}|{task.get('completed_at')}"
    return "cb_" + hashlib.sha256(completion.encode()).hexdigest()[:32]


class Callbacks:
    def __init__(self, settings: TaskSettings, records: CallbackRecords) -> None:
        self.settings = settings
        self.records = records

    def process(self, message: PubSubMessage) -> str:
        try:
            event = ResultEvent.model_validate_json(message.data)
        except ValidationError:
            log(logger, logging.ERROR, "not a completion event; acked", id=message.message_id)
            return "malformed"
        doc_id = event.doc_id or event.task_id
        if message.attributes.get(CALLBACK_ATTRIBUTE) != "1":
            return ClaimKind.NO_CALLBACK.value  # no callback_url: nothing to read or send
        with task_context(event.task_id):
            task = self.records.get(doc_id)
            if task is None or not (task.get("request") or {}).get("callback_url"):
                return ClaimKind.NO_CALLBACK.value
            hook = webhook_id(task)
            hold_s = self.settings.callback_timeout_s + HOLD_MARGIN_S
            claim = self.records.claim(doc_id, hook, utcnow(), hold_s)
            if claim.kind is ClaimKind.BUSY:
                # Another delivery is sending now; come back later to see how it went.
                raise CallbackRetryError("another delivery holds this callback")
            if claim.kind is not ClaimKind.SEND or claim.task is None:
                log(logger, logging.INFO, "callback done", outcome=claim.kind.value)
                return claim.kind.value
            return self._send(doc_id, hook, claim.task, claim.attempt)

    def _send(self, doc_id: str, hook: str, task: dict[str, Any], attempt: int) -> str:
        url = str(task["request"]["callback_url"])
        secret = self._secret(str(task.get("client_id", "")))
        if secret is None:
            return self._final(doc_id, hook, attempt, Answer(None, "no_secret"))
        try:
            pinned = pinned_callback(self.settings, url)
        except OutboundUrlError as error:
            log(logger, logging.WARNING, "callback address refused", reason=str(error))
            return self._final(doc_id, hook, attempt, Answer(None, "address_refused"))
        view = public_view({k: v for k, v in task.items() if k != "callback"})
        body = json.dumps(view, separators=(",", ":"), ensure_ascii=False).encode()
        # The receiver may continue the task's trace: `traceparent` of this delivery's span.
        headers = signed_headers(secret, hook, int(time.time()), body) | tracing.inject()
        answer = post(pinned, headers, body, self.settings.callback_timeout_s)
        log(
            logger,
            logging.INFO,
            "callback attempt",
            webhook_id=hook,
            attempt=attempt,
            receiver_status=answer.status,
            error=answer.error,
        )
        if answer.delivered:
            outcome = {"status": "delivered", "last_status": answer.status, "error": None}
            self.records.record(doc_id, hook, attempt, outcome | {"delivered_at": utcnow()})
            return "delivered"
        if not answer.retryable or attempt >= self.settings.callback_max_attempts:
            return self._final(doc_id, hook, attempt, answer)
        pending = {"status": "pending", "last_status": answer.status, "error": answer.error}
        self.records.record(doc_id, hook, attempt, pending)
        raise CallbackRetryError(f"callback attempt {attempt} failed; retried by Pub/Sub")

    def _final(self, doc_id: str, hook: str, attempt: int, answer: Answer) -> str:
        outcome = {"status": "failed", "last_status": answer.status, "error": answer.error}
        self.records.record(doc_id, hook, attempt, outcome)
        log(logger, logging.WARNING, "callback failed", attempt=attempt, status=answer.status)
        return "failed"

    def _secret(self, client_id: str) -> str | None:
        """The client's own secret (its API key's), else the deployment's."""
        own = self.records.client_secret(client_id) if client_id else None
        if own:
            return own
        configured = self.settings.callback_secret
        return configured.get_secret_value() if configured is not None else None
