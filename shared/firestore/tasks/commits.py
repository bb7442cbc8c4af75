"""What every write of the task store builds on: its clock, the rollups that ride in its commits,
and the commit that drops a refused rollup update rather than the task's change.

A rollup update can never block a task's change: a commit Firestore refuses as invalid (a
rollup document at its size limit, say) is made again without it, counting the miss instead
(`_without_rollups_if_refused`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.clock import utcnow
from shared.errors import AIExecError
from shared.firestore.conditional import unchanged_since
from shared.firestore.tasks.reads import TaskReads
from shared.rollups import Rollups
from shared.settings import TaskSettings
from shared.structured_logs import log
from shared.task_ids import split_doc_id

CONTENDED_TRIES = 5  # reads and conditional writes before a document counts as contended
_T = TypeVar("_T")
# Named for the store as a whole, as before it was split into modules: the `logger` field of
# its log lines stays what operators' log queries know.
logger = logging.getLogger("shared.store")


class StoreContentionError(AIExecError, RuntimeError):
    """A document kept changing under conditional writes; the delivery should be retried."""


class TaskCommits(TaskReads):
    def __init__(
        self,
        settings: TaskSettings,
        client: firestore.Client | None = None,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(settings, client)
        self.rollups = Rollups(settings)
        self._now = now

    @staticmethod
    def _unchanged_since(update_time: datetime) -> Any:
        return unchanged_since(update_time)

    def _count_in_rollups(
        self,
        writer: Any,
        usage_docs: Iterable[Mapping[str, Any]],
        terminal: Mapping[str, Any] | None,
        now: datetime,
        *,
        rollups: bool,
    ) -> None:
        """Stage the rollup update on `writer`; `rollups=False` (that update was refused) counts
        what the rollups miss instead."""
        if rollups:
            self.rollups.record(writer, self.client, usage_docs, terminal, now)
        else:
            self.rollups.record_missed(writer, self.client, usage_docs, terminal, now)

    def _without_rollups_if_refused(self, doc_id: str, commit: Callable[[bool], _T]) -> _T:
        """`commit(True)`: a change with its rollup update. If Firestore refuses that commit as
        invalid (InvalidArgument: a rollup document at the 1 MiB entity limit, a field path over
        1500 bytes, too many index entries), nothing of it landed: `commit(False)` makes the
        change without the rollup update and counts what the rollups miss. Only if that too is
        refused (the fault is the change's own) does the error escape."""
        try:
            return commit(True)
        except gexc.InvalidArgument as refused:
            reason = str(refused)[:300]
        result = commit(False)
        log(
            logger,
            logging.ERROR,
            "rollup update refused; committed without it (counted as missed in the report)",
            task_id=split_doc_id(doc_id)[1],
            doc_id=doc_id,
            reason=reason,
            rollup_misses=1,
        )
        return result
