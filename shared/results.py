"""Completion events on `task-results`: published by whichever function ends a task (worker,
finalizer, sweeper)."""

from __future__ import annotations

import logging
from typing import Any

from shared import tracing
from shared.bus import Bus
from shared.events import CALLBACK_ATTRIBUTE
from shared.schemas import ResultEvent, TaskStatus
from shared.settings_core import CoreSettings

logger = logging.getLogger(__name__)
COMPLETED_SPAN = "task.completed"


def publish_result(bus: Bus, settings: CoreSettings, task: dict[str, Any]) -> None:
    """Completion event on `task-results`; best effort — the document is the source of truth."""
    result = task.get("result") or {}
    event = ResultEvent(
        task_id=task["task_id"],
        doc_id=str(task.get("doc_id") or task["task_id"]),
        client_id=str(task.get("client_id", "")),
        status=TaskStatus(task["status"]),
        provider=result.get("provider"),
        model=result.get("model"),
        error_code=(task.get("error") or {}).get("code"),
    )
    wants_callback = bool((task.get("request") or {}).get("callback_url"))
    attributes = {CALLBACK_ATTRIBUTE: "1"} if wants_callback else {}
    # The end of the task's trace (the callbacks function, if any, continues from here).
    with tracing.span(
        COMPLETED_SPAN,
        task_id=event.task_id,
        status=event.status.value,
        provider=event.provider,
        model=event.model,
        error_code=event.error_code,
    ):
        try:
            bus.publish(settings.topic_results, event.model_dump_json().encode(), **attributes)
        except Exception:  # the task is already terminal; a lost event is only logged
            logger.exception("could not publish the completion event")
