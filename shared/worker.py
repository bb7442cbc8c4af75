"""The provider worker: one delivery of `tasks-<provider>` → one call loop → one outcome.

Transient errors are retried here, in process, within `provider_attempts` (nacks would feed
Pub/Sub's push back-off and stall the pipeline exactly when a provider struggles — see
docs/architecture.md); a model the provider does not have (`model_unavailable`) is replaced by
the task type's fallback model on the same provider; provider-fatal errors and an exhausted
budget hand the task to the next hop; an invalid task fails at once. Only infrastructure errors
(Firestore, Pub/Sub) escape as exceptions, so that Pub/Sub redelivers.

The circuit breaker hears only about the provider's health: a failure counts when the error is
the provider's (`ProviderError.counts_against_provider`) and the call was to a model the system
vouches for (in the catalog, configured or allowed by the operator). A failure the request
caused, or a call to a model only the request names, is recorded on the task and never counted,
so one client's requests cannot open a circuit for everyone.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from shared import call_spans, fallback, hop_snapshot, metric_events
from shared.bus import Bus
from shared.catalog import known_name
from shared.circuit import CircuitBreaker, CircuitState, Decision
from shared.clock import utcnow
from shared.error_summaries import summary
from shared.firestore.conditional import version_of
from shared.prompts import completion_request
from shared.providers.base import (
    Completion,
    CompletionRequest,
    InvalidTaskError,
    Provider,
    ProviderError,
    TransientError,
)
from shared.providers.errors import MODEL_UNAVAILABLE
from shared.results import publish_result
from shared.schemas import TaskMessage, TaskStatus
from shared.settings import TaskSettings
from shared.store import TaskStore
from shared.structured_logs import log
from shared.structured_output import INVALID_OUTPUT, INVALID_OUTPUT_RETRIES, structured_answer
from shared.task_leases import BeginKind, Outcome
from shared.usage import CallRecord

logger = logging.getLogger(__name__)
_INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
pause = time.sleep  # the back-off between in-process retries (replaceable in unit tests)


class Worker:
    def __init__(
        self,
        settings: TaskSettings,
        store: TaskStore,
        bus: Bus,
        provider: Provider,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.provider = provider
        self.breaker = breaker

    def process(self, message: TaskMessage, dead_letter_source: str | None = None) -> str:
        """Handle one delivery; returns what happened (for logs and tests)."""
        me = self.provider.name
        hop, skipped = self._my_hop(message, dead_letter_source)
        if hop is None:
            return self._forward(message, message.hop + 1, "not in this task's chain")
        if self._skipping():
            return self._pass_on(message, hop, skipped)
        owner = f"{me}:{_INSTANCE}:{uuid.uuid4().hex[:8]}"
        begin = self.store.begin(message.doc, hop, me, owner, known=_carried(message))
        if begin.kind is not BeginKind.START:
            return self._skip(begin.kind, begin.task, message)
        task = begin.task or {}
        calls, outcome = self._call(task, hop)
        metric_events.provider_calls(logger, calls, metric_events.lane_of(task))
        written = self.store.finish(message.doc, owner, skipped + calls, outcome, lease=begin)
        if written is None:
            log(logger, logging.WARNING, "lease lost before finishing; calls recorded only")
            return "lease_lost"
        return self._after(written, outcome, message)

    def _my_hop(
        self, message: TaskMessage, dead_letter_source: str | None
    ) -> tuple[int | None, list[CallRecord]]:
        """This worker's hop; a dead-lettered delivery skips the hop(s) that could not run it."""
        chain, me = message.chain, self.provider.name
        if message.hop < len(chain) and chain[message.hop] == me:
            return message.hop, []
        if me not in chain[message.hop :]:
            return None, []
        hop = chain.index(me, message.hop)
        now = utcnow()
        error = {
            "code": "dead_lettered" if dead_letter_source else "skipped",
            "message": f"delivery gave up on this hop ({dead_letter_source or 'misrouted'})",
        }
        skipped = [
            CallRecord(p, "", now, now, "dead_lettered", error, called_provider=False)
            for p in chain[message.hop : hop]
        ]
        return hop, skipped

    def _pass_on(self, message: TaskMessage, hop: int, skipped: list[CallRecord]) -> str:
        """The circuit is open: hand the task over without taking a lease, since this delivery
        will not call the provider (one read and one write instead of a lease and a finish)."""
        passed = self.store.pass_on(
            message.doc, hop, lambda task: [*skipped, self._not_called(task)]
        )
        if passed.kind is not BeginKind.START or passed.task is None:
            return self._skip(passed.kind, passed.task, message)
        return self._after(passed.task, Outcome(TaskStatus.QUEUED, next_hop=hop + 1), message)

    def _not_called(self, task: dict[str, Any]) -> CallRecord:
        me = self.provider.name
        log(logger, logging.INFO, "circuit open: handing over without a call", provider=me)
        return fallback.not_called(self.settings, me, task.get("request") or {})

    def _call(self, task: dict[str, Any], hop: int) -> tuple[list[CallRecord], Outcome]:
        """Call the chosen model; when the provider says it does not exist (`model_unavailable`),
        call the task type's fallback model on this provider before handing over."""
        request = task.get("request") or {}
        late = self._out_of_time(task, hop)
        if late is not None:
            return late
        models = fallback.models_to_try(self.settings, self.provider.name, request)
        decision = self._decide()
        if decision is Decision.SKIP:
            return [self._not_called(task)], Outcome(TaskStatus.QUEUED, next_hop=hop + 1)
        calls: list[CallRecord] = []
        probe = decision is Decision.PROBE
        for number, model in enumerate(models, start=1):
            call = completion_request(request, model)
            made, outcome, told = self._attempts(call, hop, probe=probe)
            calls += made
            if not _model_gone(made[-1]) or number == len(models):
                if probe and not told:
                    # The probe's call failed for its own request's reason: no verdict either
                    # way, so let the next delivery probe instead of waiting out the lease.
                    self._health("release_probe")
                break
            log(
                logger,
                logging.WARNING,
                "model unavailable; trying the fallback model",
                provider=self.provider.name,
                model=model,
                fallback_model=models[number],
            )
        return calls, outcome

    def _out_of_time(
        self, task: dict[str, Any], hop: int
    ) -> tuple[list[CallRecord], Outcome] | None:
        """Never start after the deadline, nor a provider whose retries cannot finish before it
        (provider timeout x attempts > time left): skip to the next hop, or, at the last one
        (no provider can), the task expires."""
        me = self.provider.name
        left = fallback.seconds_left(task, utcnow())
        needed = self.settings.timeout_for(me) * self.settings.provider_attempts
        if left is None or left >= needed:
            return None
        log(logger, logging.WARNING, "not enough time before the deadline", provider=me, left=left)
        record = fallback.out_of_time(self.settings, me, left)
        if left > 0 and hop + 1 < len(task.get("chain") or []):
            return [record], Outcome(TaskStatus.QUEUED, next_hop=hop + 1)
        expired = {"code": "expired", "message": "no provider could finish before the deadline"}
        return [record], Outcome(TaskStatus.FAILED, error=expired)

    def _attempts(
        self, call: CompletionRequest, hop: int, probe: bool
    ) -> tuple[list[CallRecord], Outcome, bool]:
        """Call until success, a non-transient error, or the budget (one call for a probe).

        Also returns whether the breaker was told how the last call went (a success, or a
        failure that counts against the provider)."""
        me, model = self.provider.name, call.model
        budget = 1 if probe else self.settings.provider_attempts
        calls: list[CallRecord] = []
        attempt = invalid_answers = 0
        while True:
            attempt += 1
            started = utcnow()
            try:
                completion = self.provider.complete(call)
            except ProviderError as error:
                calls.append(CallRecord.failure(me, model, started, utcnow(), error))
                call_spans.record_call(calls[-1], attempt)
                counted = self._counts(error, model)
                log(
                    logger,
                    logging.WARNING,
                    "provider call failed",
                    provider=me,
                    model=model,
                    attempt=attempt,
                    kind=str(error.kind),
                    code=error.code,
                    probe=probe,
                    counts_against_provider=counted,
                )
                if counted:
                    self._health("record_failure", code=error.code, probe=probe)
                if isinstance(error, InvalidTaskError):
                    failed = Outcome(TaskStatus.FAILED, error=_error("invalid_task", error))
                    return calls, failed, counted
                if isinstance(error, TransientError) and attempt < budget and not self._opened():
                    delay = self._backoff(attempt, error)
                    with call_spans.backoff(delay, attempt):
                        pause(delay)
                    continue
                return calls, Outcome(TaskStatus.QUEUED, next_hop=hop + 1), counted
            record = CallRecord.success(me, model, started, utcnow(), completion)
            record = replace(record, structured=call.response_schema is not None)
            # The provider answered: healthy, whether or not the answer follows the schema.
            self._health("record_success", probe=probe)
            value, problem = structured_answer(call.response_schema, completion.text)
            if problem is None:
                calls.append(record)
                call_spans.record_call(record, attempt)
                result = _result(me, model, completion, value, call.response_schema is not None)
                return calls, Outcome(TaskStatus.SUCCEEDED, result=result), True
            calls.append(_invalid_output(record))
            call_spans.record_call(calls[-1], attempt)
            invalid_answers += 1
            log(logger, logging.WARNING, "answer does not follow the response schema",
                provider=me, model=model, attempt=attempt, reason=problem)  # fmt: skip
            if invalid_answers > INVALID_OUTPUT_RETRIES:
                return calls, Outcome(TaskStatus.QUEUED, next_hop=hop + 1), True

    def _counts(self, error: ProviderError, model: str) -> bool:
        """Whether this failure counts against the provider's health: the error must be the
        provider's, and the model one the system vouches for. A model only the request names
        (not in the catalog, not configured) may fail for reasons of its own: a partner model
        that is down, a private endpoint without access, one that always times out."""
        if not error.counts_against_provider:
            return False
        return known_name(self.settings, self.provider.name, model) is not None

    def _decide(self) -> Decision:
        if self.breaker is None:
            return Decision.CALL
        try:
            return self.breaker.allow()
        except Exception:  # a breaker we cannot read must not stop the work: call as usual
            logger.exception("circuit breaker unavailable; calling the provider")
            return Decision.CALL

    def _skipping(self) -> bool:
        """Whether the breaker skips this provider now (cached read; no probe claimed)."""
        return self._breaker_says(lambda breaker: breaker.skipping())

    def _opened(self) -> bool:
        """Whether the breaker opened meanwhile (our own failure may have opened it): retrying
        a provider every instance now skips would only delay the hand-over."""
        return self._breaker_says(lambda breaker: breaker.view().state is not CircuitState.CLOSED)

    def _breaker_says(self, question: Callable[[CircuitBreaker], bool]) -> bool:
        """The breaker's answer; False without one or when it cannot be read (the usual path
        then runs, which decides again)."""
        if self.breaker is None:
            return False
        try:
            return question(self.breaker)
        except Exception:
            logger.exception("circuit breaker unavailable")
            return False

    def _health(self, method: str, **kwargs: Any) -> None:
        """Tell the breaker how a call went; it is advisory, so its own failures only log."""
        if self.breaker is None:
            return
        try:
            getattr(self.breaker, method)(**kwargs)
        except Exception:
            logger.exception("could not update the circuit breaker")

    def _backoff(self, attempt: int, error: ProviderError) -> float:
        if error.retry_after_s is not None:
            return min(error.retry_after_s, self.settings.max_retry_after_s)
        return float(min(self.settings.retry_backoff_s * 2 ** (attempt - 1), 5.0))

    def _after(self, task: dict[str, Any], outcome: Outcome, message: TaskMessage) -> str:
        if outcome.status.terminal:
            publish_result(self.bus, self.settings, task)
            metric_events.task_finished(logger, task, by=self.provider.name)
            return outcome.status.value
        assert outcome.next_hop is not None
        return self._forward(message, outcome.next_hop, "provider failed")

    def _forward(self, message: TaskMessage, next_hop: int, reason: str) -> str:
        topic = fallback.topic_for_hop(self.settings, message.chain, next_hop)
        onward = fallback.hand_over(message, next_hop, reason)
        self.bus.publish(topic, onward.model_dump_json().encode())
        log(
            logger,
            logging.INFO,
            "handed over",
            from_provider=self.provider.name,
            topic=topic,
            reason=reason,
        )
        return "handed_over"

    def _skip(self, kind: BeginKind, task: dict[str, Any] | None, message: TaskMessage) -> str:
        log(logger, logging.INFO, "delivery not processed", reason=kind.value)
        if kind is BeginKind.STALE and task and task.get("status") == TaskStatus.QUEUED:
            # The hand-over was recorded but its publish may not have happened (the delivery
            # that wrote it was nacked); publishing again is safe because hops are idempotent.
            return self._forward(message, int(task["hop"]), "re-publishing a recorded hand-over")
        if kind is BeginKind.TERMINAL and task and int(task.get("hop", -1)) == message.hop:
            # Finished at this very hop, yet delivered again: the delivery that finished it was
            # not acked, and may have died before publishing the completion event. Publishing it
            # again keeps events at least once (consumers deduplicate on task_id).
            publish_result(self.bus, self.settings, task)
            return "completion_republished"
        return kind.value


def _carried(message: TaskMessage) -> tuple[dict[str, Any], datetime] | None:
    """The task and its update time as the message carried them (shared/hop_snapshot.py), if
    it did and they decode; None makes the lease read the document."""
    if message.task is None or message.task_version is None:
        return None
    try:
        return hop_snapshot.decode(message.task), version_of(message.task_version)
    except (ValueError, TypeError):
        log(logger, logging.WARNING, "unreadable task snapshot in the message; reading the task")
        return None


def _result(
    provider: str, model: str, completion: Completion, value: Any, structured: bool
) -> dict[str, Any]:
    result = {
        "text": completion.text,
        "provider": provider,
        "model": completion.model or model,
        "finish_reason": completion.finish_reason,
    }
    return result | {"json": value} if structured else result


def _invalid_output(record: CallRecord) -> CallRecord:
    """The call answered (and is billed as such) but its answer does not follow the schema."""
    error = {"code": INVALID_OUTPUT, "message": summary(INVALID_OUTPUT)}
    return replace(record, outcome=INVALID_OUTPUT, error=error)


def _model_gone(call: CallRecord) -> bool:
    """Whether the provider answered that the call's model does not exist."""
    return (call.error or {}).get("code") == MODEL_UNAVAILABLE


def _error(code: str, error: ProviderError) -> dict[str, str]:
    # A fixed sentence for clients; the provider's own text is logged (CallRecord.failure).
    return {"code": code, "message": f"{error.code}: {summary(error.code)}"}
