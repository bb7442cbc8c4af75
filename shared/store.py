"""The task store, as services import it: the `tasks` repository of the data layer
(shared/firestore/tasks/, which explains the protocol)."""

from __future__ import annotations

from shared.firestore.tasks import TaskStore

__all__ = ["TaskStore"]
