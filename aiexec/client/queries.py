"""Paged Firestore reads of `tasks/` for listing and exporting.

Pages (ordered by the time field, resumed with a cursor) rather than one long stream: an export
of a week of tasks can outlive a single query stream's deadline, and a page at a time keeps
memory flat however many tasks match.

Indexes: a status filter with a time range needs a composite index (status, field) in
production; the emulator needs none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from aiexec.client.errors import ServiceUnreachableError

PAGE_SIZE = 500
QUERY_TIMEOUT_S = 60.0


@contextlib.contextmanager
def firestore_errors() -> Iterator[None]:
    """Firestore down, slow or refusing these credentials, as `ServiceUnreachableError`."""
    try:
        yield
    except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.RetryError) as error:
        raise ServiceUnreachableError(f"Firestore did not answer: {error}") from error
    except (gexc.PermissionDenied, gexc.Unauthenticated, DefaultCredentialsError) as error:
        raise ServiceUnreachableError(
            f"Firestore refused these credentials ({error}); run "
            "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from error


def build_query(
    collection: Any,
    *,
    statuses: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    field: str,
    newest_first: bool,
) -> Any:
    query = collection
    if len(statuses) == 1:
        query = query.where(filter=FieldFilter("status", "==", statuses[0]))
    elif statuses:
        query = query.where(filter=FieldFilter("status", "in", list(statuses)))
    if since is not None:
        query = query.where(filter=FieldFilter(field, ">=", since))
    if until is not None:
        query = query.where(filter=FieldFilter(field, "<", until))
    direction = firestore.Query.DESCENDING if newest_first else firestore.Query.ASCENDING
    return query.order_by(field, direction=direction)


def iter_documents(
    collection: Any,
    *,
    statuses: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    field: str,
    newest_first: bool,
    limit: int | None,
    page_size: int = PAGE_SIZE,
) -> Iterator[dict[str, Any]]:
    """Matching documents, `page_size` per round trip, at most `limit` (None: all)."""
    query = build_query(
        collection, statuses=statuses, since=since, until=until, field=field,
        newest_first=newest_first,
    )  # fmt: skip
    cursor: Any = None
    yielded = 0
    while limit is None or yielded < limit:
        size = page_size if limit is None else min(page_size, limit - yielded)
        page = query if cursor is None else query.start_after(cursor)
        with firestore_errors():
            snapshots = list(page.limit(size).stream(timeout=QUERY_TIMEOUT_S))
        for snapshot in snapshots:
            yield snapshot.to_dict() or {}
        yielded += len(snapshots)
        if len(snapshots) < size:
            return
        cursor = snapshots[-1]
