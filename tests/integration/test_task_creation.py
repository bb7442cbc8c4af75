"""A task's creation and its budget reservation commit together (shared/budget.py), on the real
Firestore emulator, with the interleavings that used to lose a reservation forced, not hoped
for: a reservation exists exactly when its task was created."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from infra.settings import Settings
from shared.budget import Budgets
from shared.firestore.tasks.creation import TaskCreation
from shared.schemas import FieldProblem, TaskStatus
from shared.store import TaskStore

_ids = itertools.count(1)
AMOUNT = 1_000
LIMIT_USD = 1.0  # room for a million reservations of AMOUNT nano-USD
REQUEST = {"task_description": "x", "task_id": "t"}


@pytest.fixture
def stores(stack: Any) -> tuple[TaskStore, Budgets]:
    """A store and budgets on the session's emulator with collections of this test's own."""
    suffix = f"{time.time_ns()}-{next(_ids)}"
    settings: Settings = stack.settings.model_copy(
        update={
            "collection_tasks": f"tasks-{suffix}",
            "collection_budgets": f"budgets-{suffix}",
            "collection_budget_reservations": f"reservations-{suffix}",
        }
    )
    store = TaskStore(settings)
    return store, Budgets(settings, lambda: store.client)


def _creation(store: TaskStore, task_id: str, client: str = "acme") -> TaskCreation:
    doc_id = f"{client}~{task_id}"
    request = REQUEST | {"task_id": task_id}
    return store.creation(task_id, client, request, ["openai"], doc_id=doc_id)


def test_two_submissions_that_both_read_a_free_id_leave_one_task_and_one_reservation(
    stores: tuple[TaskStore, Budgets], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read (no task, no reservation), both stage, then both commit: one wins; the other's
    commit fails as a whole, reads again, finds the task and reserves nothing."""
    store, budgets = stores
    both_staged = threading.Barrier(2, timeout=10)
    stage = TaskCreation.stage
    staged = threading.local()

    def stage_then_wait(self: TaskCreation, writer: Any) -> None:
        stage(self, writer)
        if not getattr(staged, "once", False):  # the first attempt of each thread only
            staged.once = True
            both_staged.wait()

    monkeypatch.setattr(TaskCreation, "stage", stage_then_wait)
    creations = [_creation(store, "race"), _creation(store, "race")]
    results: list[Any] = [None, None]

    def submit(index: int) -> None:
        results[index] = budgets.reserve("acme", "acme~race", AMOUNT, LIMIT_USD, creations[index])

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(c.created for c in creations) == [False, True]
    winner = next(i for i, c in enumerate(creations) if c.created)
    assert results[winner] is not None and results[winner].new
    assert results[1 - winner] is None  # answered as the existing task, nothing reserved
    assert creations[1 - winner].result == (store.get("acme~race"), False)
    assert budgets.committed("acme") == (AMOUNT, 1)


def test_a_task_created_between_our_read_and_our_commit_keeps_our_reservation_out(
    stores: tuple[TaskStore, Budgets], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, budgets = stores
    creation = _creation(store, "late")
    read = TaskCreation.read

    def read_then_lose(self: TaskCreation, snap: Any) -> bool:
        decided = read(self, snap)
        if decided and not getattr(self, "_lost", False):
            self._lost = True  # type: ignore[attr-defined]
            store.commit_creation(
                store.creation(
                    "late", "acme", REQUEST | {"task_id": "late"}, ["openai"], doc_id="acme~late"
                )
            )
        return decided

    monkeypatch.setattr(TaskCreation, "read", read_then_lose)
    assert budgets.reserve("acme", "acme~late", AMOUNT, LIMIT_USD, creation) is None
    assert not creation.created
    assert budgets.committed("acme") == (0, 0)  # the task that won was reserved by nobody here


def test_a_repeated_submission_reserves_nothing(stores: tuple[TaskStore, Budgets]) -> None:
    store, budgets = stores
    first = _creation(store, "again")
    assert budgets.reserve("acme", "acme~again", AMOUNT, LIMIT_USD, first) is not None
    second = _creation(store, "again")
    assert budgets.reserve("acme", "acme~again", AMOUNT, LIMIT_USD, second) is None
    assert (first.created, second.created) == (True, False)
    assert budgets.committed("acme") == (AMOUNT, 1)


@pytest.mark.parametrize("with_budget", [False, True], ids=["alone", "with-reservation"])
def test_a_rejection_is_replaced_whole(
    stores: tuple[TaskStore, Budgets], with_budget: bool
) -> None:
    store, budgets = stores
    problem = FieldProblem(code="missing_field", message="x", field="task_description")
    assert store.record_rejection("r", "acme", problem, doc_id="acme~r") is not None
    creation = _creation(store, "r")
    if with_budget:
        assert budgets.reserve("acme", "acme~r", AMOUNT, LIMIT_USD, creation) is not None
    else:
        store.commit_creation(creation)
    assert creation.created
    task = store.get("acme~r")
    assert task is not None and task["status"] == TaskStatus.QUEUED
    assert task["request"] == REQUEST | {"task_id": "r"} and task["error"] is None
    assert set(task) == set(creation.doc)  # nothing of the rejection is left
    assert budgets.committed("acme") == ((AMOUNT, 1) if with_budget else (0, 0))


def test_a_rejection_that_changed_after_our_read_is_read_again(
    stores: tuple[TaskStore, Budgets], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _budgets = stores
    problem = FieldProblem(code="missing_field", message="x", field="task_description")
    store.record_rejection("r2", "acme", problem, doc_id="acme~r2")
    read = TaskCreation.read
    calls = {"n": 0}

    def read_then_replace(self: TaskCreation, snap: Any) -> bool:
        calls["n"] += 1
        decided = read(self, snap)
        if calls["n"] == 1:  # a newer rejection lands before our commit
            store.record_rejection("r2", "acme", problem, doc_id="acme~r2")
        return decided

    monkeypatch.setattr(TaskCreation, "read", read_then_replace)
    creation = _creation(store, "r2")
    store.commit_creation(creation)
    assert creation.created and calls["n"] == 2
    assert (store.get("acme~r2") or {})["status"] == TaskStatus.QUEUED


def test_a_reservation_left_without_its_task_counts_the_task_created_now(
    stores: tuple[TaskStore, Budgets],
) -> None:
    """Left by a version that reserved before creating (or a task deleted by hand)."""
    store, budgets = stores
    assert budgets.reserve("acme", "acme~orphan", AMOUNT, LIMIT_USD) is not None  # no task
    creation = _creation(store, "orphan")
    reservation = budgets.reserve("acme", "acme~orphan", AMOUNT, LIMIT_USD, creation)
    assert reservation is not None and not reservation.new
    assert creation.created
    assert budgets.committed("acme") == (AMOUNT, 1)
