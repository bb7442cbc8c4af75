"""Submitting many tasks with bounded concurrency, each answered on its own.

A semaphore bounds the tasks in flight, so a generator of a million requests is read as the
pool drains rather than all at once, and the ingest function sees at most `concurrency`
requests from this caller at any moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aiexec.client.errors import (
    RequestRefusedError,
    ServiceUnreachableError,
    TaskValidationError,
)
from aiexec.client.models import BatchItem, BatchSummary, Via
from shared.schemas import FieldProblem

if TYPE_CHECKING:
    from aiexec.client.core import AIExecClient


def submit_one(client: AIExecClient, index: int, request: Any, via: Via | None) -> BatchItem:
    """Submit one task of a batch; every failure becomes the item's outcome, never a raise."""
    task_id = _task_id(request)
    try:
        submitted = client.submit(request, via=via)
    except TaskValidationError as error:
        return BatchItem(index, task_id, "invalid", problem=error.problem, http_status=error.status)
    except RequestRefusedError as error:
        return BatchItem(index, task_id, "refused", problem=error.problem, http_status=error.status)
    except ServiceUnreachableError as error:
        problem = FieldProblem(code="unreachable", message=str(error))
        return BatchItem(index, task_id, "unreachable", problem=problem)
    return BatchItem(index, submitted.task_id, "accepted", status=submitted.status)


def submit_batch(
    client: AIExecClient,
    requests: Iterable[tuple[int, Any]],
    *,
    via: Via | None = None,
    concurrency: int = 16,
    on_item: Callable[[BatchItem], None] | None = None,
) -> BatchSummary:
    """Submit `(index, request)` pairs, at most `concurrency` in flight; items in input order."""
    summary = BatchSummary()
    slots = threading.BoundedSemaphore(max(1, concurrency))
    lock = threading.Lock()
    began = time.monotonic()
    # After this many unreachable answers in a row the service is down: stop trying the rest
    # (each try costs the client's retries) and report them unsent.
    give_up_after = max(8, 2 * concurrency)
    streak = [0]

    def run(index: int, request: Any) -> None:
        try:
            if streak[0] >= give_up_after:
                item = _not_sent(index, request)
            else:
                item = submit_one(client, index, request, via)
            with lock:
                streak[0] = streak[0] + 1 if item.outcome == "unreachable" else 0
                summary.items.append(item)
            if on_item is not None:
                on_item(item)
        finally:
            slots.release()

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = []
        for index, request in requests:
            slots.acquire()
            futures.append(pool.submit(run, index, request))
        for future in futures:
            future.result()  # a bug in a worker thread surfaces here instead of losing an item
    summary.items.sort(key=lambda item: item.index)
    summary.elapsed_s = time.monotonic() - began
    return summary


def _not_sent(index: int, request: Any) -> BatchItem:
    message = "not sent: the service stopped answering earlier in this batch"
    problem = FieldProblem(code="unreachable", message=message)
    return BatchItem(index, _task_id(request), "unreachable", problem=problem)


def _task_id(request: Any) -> str | None:
    value = getattr(request, "task_id", None)
    if value is None and isinstance(request, dict):
        value = request.get("task_id")
    return value if isinstance(value, str) else None
