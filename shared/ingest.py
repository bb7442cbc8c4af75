"""Accepting tasks: validate, create `tasks/{doc_id}` (queued), publish to the first provider's
queue.

Shared by both doors — HTTP and the `tasks` topic — so that a task is the same task whichever
way it came in. The document id is the task id, or `{client_id}~{task_id}` when API keys are
required (shared/task_ids.py): each client's ids are its own.

Who a `tasks` message comes from: shared/pubsub_clients.py (the finalizer asks too).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared import fallback, hop_snapshot, metric_events
from shared.attachments.request import check_request_limits, check_request_readable
from shared.budget import Budgets
from shared.budget_math import reservation_nusd
from shared.bus import Bus
from shared.callbacks.address import FIELD as CALLBACK_FIELD
from shared.callbacks.address import pinned_callback
from shared.firestore.conditional import version_text
from shared.model_policy import check_models
from shared.outbound_urls import OutboundUrlError
from shared.pubsub_clients import pubsub_client
from shared.request_guard import RequestProblemError, check_json
from shared.request_problems import describe_validation_error, readable_task_id
from shared.routing import EntryRouter
from shared.schemas import (
    FieldProblem,
    TaskMessage,
    TaskRequest,
    TaskStatus,
)
from shared.settings import IngestSettings
from shared.store import TaskStore
from shared.structured_logs import log, task_context
from shared.task_ids import doc_id_of
from shared.tracing import set_attributes, task_span, task_trace

# RequestProblemError is request_guard's, pubsub_client pubsub_clients': re-exported for callers.
__all__ = ["Ingest", "RequestProblemError", "Submission", "pubsub_client"]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    task: dict[str, Any]
    created: bool


class Ingest:
    def __init__(
        self, settings: IngestSettings, store: TaskStore, bus: Bus, budgets: Budgets | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.budgets = budgets or Budgets(settings, lambda: store.client)
        self.router = EntryRouter(settings, lambda: store.client)

    def parse(self, body: bytes) -> TaskRequest:
        """Validate raw JSON bytes into a request, or raise RequestProblemError."""
        if len(body) > self.settings.max_body_bytes:
            raise RequestProblemError(
                FieldProblem(
                    code="too_large",
                    message=f"the body is {len(body)} bytes; the limit is "
                    f"{self.settings.max_body_bytes}",
                ),
                status=413,
            )
        check_json(body, self.settings)  # hostile shapes, before any parser recurses into them
        try:
            request = TaskRequest.model_validate_json(body)
        except ValidationError as error:
            problem = describe_validation_error(error)
            status = 413 if problem.code == "too_large" else 400
            raise RequestProblemError(problem, status) from error
        check_models(self.settings, request.model)  # allowlist: 400 model_not_allowed
        check_request_limits(self.settings, request)  # count, types, schemes: 400 naming it
        if request.callback_url is not None:
            self._check_callback(request.callback_url)  # 400 naming callback_url
        return request

    def submit(
        self,
        request: TaskRequest,
        client_id: str,
        monthly_budget_usd: float | None = None,
        *,
        rate_per_s: float | None = None,
    ) -> Submission:
        """Create and enqueue the task; the same `task_id` again returns the existing task.

        With a `monthly_budget_usd`, the task's worst-case cost is reserved in the same commit
        that creates it (402 when it does not fit; see shared/budget.py); a task that exists
        already is answered without reserving. `rate_per_s`: the client's rate limit, the peak
        its budget's shards are sized for (shared/budget_count.py).
        """
        chain = self._chain(request)
        check_request_readable(self.settings, request)  # each file exists, within the limit
        task_id = request.task_id or uuid.uuid4().hex
        doc_id = self.store.doc_id(task_id, client_id)
        body = request.model_dump(mode="json", exclude_none=True) | {"task_id": task_id}
        with task_context(task_id):
            # A batch task calls no provider now: open circuits are the batcher's to weigh.
            batch = request.lane == "batch"
            skipped = [] if batch else self.router.skipped(chain, body)
            creation = self.store.creation(
                task_id, client_id, body, chain, skipped, doc_id=doc_id, trace=task_trace()
            )
            if monthly_budget_usd is None:
                self.store.commit_creation(creation)
            else:
                amount = reservation_nusd(self.settings, request, chain)
                self.budgets.reserve(
                    client_id,
                    doc_id,
                    amount,
                    monthly_budget_usd,
                    creation,
                    peak_tasks_per_s=rate_per_s,
                )
            task, created = creation.result
            if not created:
                self._check_same(task, body, client_id)
                if _untouched(task) and task.get("mode") != "batch":
                    # The first submission may have died between create and publish; a second
                    # publish is harmless (workers deduplicate) and makes the retry complete it.
                    with task_span(task, "ingest.resend"):  # in the task's own trace
                        self._enqueue(task, task["chain"], int(task.get("hop", 0)))
                log(logger, logging.INFO, "duplicate submission", status=task["status"])
                return Submission(task, created=False)
            if not batch:  # a batch task waits, queued, for the batcher (batch-requests)
                self._enqueue(task, chain, len(skipped), creation.update_time)
            set_attributes(task_id=task_id, chain=chain, hop=len(skipped))
            log(
                logger,
                logging.INFO,
                "task accepted",
                event=metric_events.TASK_ACCEPTED,
                lane=request.lane,
                client_id=client_id,
                mode=request.lane,
                chain=chain,
                open_circuits_skipped=[record.provider for record in skipped],
                prompt_chars=request.prompt_chars,
                **({"prompt": request.prompt_texts()} if self.settings.log_prompts else {}),
            )
            return Submission(task, created=True)

    def reject_message(self, data: bytes, problem: FieldProblem, client_id: str) -> bool:
        """Record a malformed `tasks` message: a `rejected` document when it names a valid id
        that no task holds. Returns (and logs) whether a document was written.
        """
        try:
            task_id = readable_task_id(data)
        except RecursionError:  # nesting too deep for `json`: no id can be read
            task_id = None
        with task_context(task_id):
            doc_id = self.store.doc_id(task_id, client_id) if task_id else None
            recorded = (
                doc_id is not None
                and self.store.record_rejection(str(task_id), client_id, problem, doc_id=doc_id)
                is not None
            )
            log(
                logger,
                logging.WARNING,
                "rejected a message on the tasks topic",
                event=metric_events.TASK_REJECTED,
                code=problem.code,
                field=problem.field,
                reason=problem.message,
                recorded=recorded,
                **({} if recorded else {"not_recorded_because": _unrecorded_reason(task_id)}),
            )
            return recorded

    def _check_callback(self, url: str) -> None:
        """Resolve the callback's host now: a private address is refused before a task exists
        (delivery checks again, and connects only to the address it checked)."""
        try:
            pinned_callback(self.settings, url)
        except OutboundUrlError as error:
            message = f"{CALLBACK_FIELD}: {error}"
            problem = FieldProblem(code="invalid_field", message=message, field=CALLBACK_FIELD)
            raise RequestProblemError(problem) from error

    def _chain(self, request: TaskRequest) -> list[str]:
        try:
            chain = fallback.resolve_chain(self.settings, request.providers)
        except ValueError as error:
            raise RequestProblemError(
                FieldProblem(code="invalid_field", message=f"providers: {error}", field="providers")
            ) from error
        unknown = sorted(set(request.model or {}) - set(self.settings.providers))
        if unknown:
            raise RequestProblemError(
                FieldProblem(
                    code="invalid_field",
                    message=f"model: unknown provider(s) {', '.join(unknown)}",
                    field="model",
                )
            )
        return chain

    def _check_same(self, task: dict[str, Any], body: dict[str, Any], client_id: str) -> None:
        if task.get("client_id") != client_id or task.get("request") != body:
            raise RequestProblemError(
                FieldProblem(
                    code="task_id_conflict",
                    message="task_id: already used for a different task",
                    field="task_id",
                ),
                status=409,
            )

    def _enqueue(
        self, task: dict[str, Any], chain: list[str], hop: int, version: datetime | None = None
    ) -> None:
        """Publish the task's hop message; with the `version` (update time) of the document
        `task` is exactly, the message carries it (shared/hop_snapshot.py)."""
        message = TaskMessage(task_id=task["task_id"], doc_id=doc_id_of(task), chain=chain, hop=hop)
        data = None
        if version is not None and (snapshot := hop_snapshot.encode(task)) is not None:
            update = {"task": snapshot, "task_version": version_text(version)}
            data = message.model_copy(update=update).model_dump_json().encode()
        if data is None or len(data) > hop_snapshot.MAX_SNAPSHOT_BYTES:
            data = message.model_dump_json().encode()  # a pointer: the worker reads the task
        topic = fallback.topic_for_hop(self.settings, chain, hop)
        self.bus.publish(topic, data)


def _unrecorded_reason(task_id: str | None) -> str:
    if not task_id:
        return "the message names no valid task_id"
    return "a task with this task_id exists; it is left as it is"


def _untouched(task: dict[str, Any]) -> bool:
    """Queued, and no provider called or tried yet (open circuits skipped without a call)."""
    attempts = task.get("attempts") or []
    skips = all(attempt.get("outcome") == "circuit_open" for attempt in attempts)
    return bool(task["status"] == TaskStatus.QUEUED and skips)
