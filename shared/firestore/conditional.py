"""Conditional writes: read, decide, write on condition that nothing changed since the read, and
decide again on what is there now when the write lost its race.

Optimistic concurrency on a document's update time rather than transactions: no lock is held,
so concurrent writers never queue on one another (two workers failing at once took 8 s in
transactions on the emulator), and a write costs a read and a write, retried only when it
really collided.

This module is the only place that catches the exceptions of a lost race (CONFLICTS):
tests/unit/test_data_layer.py checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud import firestore

_T = TypeVar("_T")

# A conditional write lost its race: someone else wrote (or created, or deleted) the document
# first, or the commit was aborted by a concurrent one. Nothing of it landed: deciding again on
# a fresh read is always safe.
CONFLICTS: tuple[type[Exception], ...] = (
    gexc.FailedPrecondition,
    gexc.AlreadyExists,
    gexc.NotFound,
    gexc.Aborted,
)


def retry_on_conflict(
    attempt: Callable[[], _T],
    *,
    tries: int,
    exhausted: Callable[[], _T],
    on_conflict: Callable[[], None] | None = None,
) -> _T:
    """`attempt()` (which reads, decides and writes with preconditions) until it does not lose a
    race, at most `tries` times; then `exhausted()` (which raises, or answers "busy").

    `on_conflict` runs after each lost race (to re-read what the attempt will decide on).
    """
    for _ in range(tries):
        try:
            return attempt()
        except CONFLICTS:
            if on_conflict is not None:
                on_conflict()
    return exhausted()


def change_document(
    ref: Any,
    decide: Callable[[dict[str, Any] | None], Mapping[str, Any] | None],
    *,
    tries: int,
    exhausted: Callable[[], Mapping[str, Any] | None],
) -> Mapping[str, Any] | None:
    """Read `ref`, let `decide` give its next data from what is there (None: the document is
    absent; returning None leaves it as it is), and write that on condition that nobody wrote in
    between (a create if it was absent); after a lost race, read and decide again. Returns what
    was written (None if nothing)."""

    def attempt() -> Mapping[str, Any] | None:
        snap = ref.get()
        data = decide(snap.to_dict() if snap.exists else None)
        if data is not None:
            put_if_unchanged(snap, data)
        return data

    return retry_on_conflict(attempt, tries=tries, exhausted=exhausted)


def unchanged_since(update_time: datetime) -> Any:
    """The write option of a write that fails unless the document's update time is still this."""
    return firestore.Client.write_option(last_update_time=update_time)


def put_if_unchanged(snap: Any, data: Mapping[str, Any], writer: Any = None) -> Any:
    """Write `data` to `snap`'s document on condition that nobody wrote it since `snap` was read:
    an update conditioned on its update time, or a create when `snap` found none. Staged on
    `writer` (a batch or transaction) if given, else written at once (the write result)."""
    if writer is None:
        if snap.exists:
            return snap.reference.update(dict(data), option=unchanged_since(snap.update_time))
        return snap.reference.create(dict(data))
    if snap.exists:
        return writer.update(snap.reference, dict(data), option=unchanged_since(snap.update_time))
    return writer.create(snap.reference, dict(data))


def created(create: Callable[[], object]) -> bool:
    """Run a document `create`: True if it was written, False if the document exists already."""
    try:
        create()
    except gexc.AlreadyExists:
        return False
    return True


def version_text(update_time: datetime) -> str:
    """An update time as RFC 3339 with its nanoseconds, to carry in a message: a precondition
    on it must match the document's exactly (shared/hop_snapshot.py)."""
    if isinstance(update_time, DatetimeWithNanoseconds):
        return str(update_time.rfc3339())  # type: ignore[no-untyped-call]
    return update_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_of(text: str) -> datetime:
    """The update time `version_text` wrote (ValueError if it is not one)."""
    moment: datetime = DatetimeWithNanoseconds.from_rfc3339(text)  # type: ignore[no-untyped-call]
    return moment
