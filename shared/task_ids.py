"""Task document ids: one namespace of task ids per client when API keys are required.

A client chooses its `task_id` (or ingest generates one); the Firestore document that holds the
task is

- `tasks/{task_id}` without API keys (the local default, one tenant: the id as given), and
- `tasks/{client_id}~{task_id}` with `AIEXEC_API_KEYS_REQUIRED=true`, for every client (HTTP
  callers by their key's client, Pub/Sub publishers by theirs, `pubsub` by default).

So with keys, two clients' `x` are two documents: another client's ids are invisible (reading
`x` resolves to one's own `{client}~x`) and cannot be claimed before their owner uses them.
`~` appears in no task id and no client name, so the two forms never collide (a document made
without keys keeps its id after keys are switched on) and a document id splits back into client
and task id unambiguously. Both parts are short (client names 1-64, task ids 1-128 characters of
`[A-Za-z0-9_.:-]`), so a document id stays far below Firestore's 1500-byte limit, never contains
`/`, is never `.` or `..`, and never matches Firestore's reserved `__.*__` (it starts with a letter
or digit).

The task document keeps `task_id` (the client's) and `client_id` as fields, and `doc_id` (its
own id); messages between functions and completion events carry `doc_id` too, so nothing after
ingest derives the id again. `usage/{doc_id}-{n}` and `budget_reservations/{doc_id}` follow it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.schemas import check_task_id

CLIENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_CLIENT_RE = re.compile(CLIENT_PATTERN)
SEPARATOR = "~"
PUBSUB_CLIENT = "pubsub"  # the client of a `tasks` message that names none
CLIENT_RULE = "1-64 letters, digits, '_', '-', '.', starting with a letter or digit, without '..'"


def valid_client_name(name: str) -> bool:
    return bool(_CLIENT_RE.fullmatch(name)) and ".." not in name


def check_client_name(name: str) -> str:
    """A client name as API keys name clients (`aiexec keys create --client`), or ValueError."""
    if not valid_client_name(name):
        raise ValueError(f"client {name[:80]!r}: use {CLIENT_RULE}")
    return name


def task_doc_id(task_id: str, client_id: str, *, namespaced: bool) -> str:
    """The document id of a client's task (see the module docstring)."""
    return f"{client_id}{SEPARATOR}{task_id}" if namespaced else task_id


def split_doc_id(doc_id: str) -> tuple[str | None, str]:
    """(client, task id) of a document id; the client is None for an un-namespaced id."""
    client, sep, task_id = doc_id.partition(SEPARATOR)
    return (client, task_id) if sep else (None, doc_id)


def check_doc_id(value: str) -> str:
    """A task document id of either form, or ValueError."""
    client, task_id = split_doc_id(value)
    if client is not None:
        check_client_name(client)
    check_task_id(task_id)
    return value


def doc_id_of(task: Mapping[str, Any]) -> str:
    """The id of a task document as read (documents written before `doc_id` existed were all
    `tasks/{task_id}`)."""
    return str(task.get("doc_id") or task["task_id"])


def resolve(given: str, client_id: str | None, *, namespaced: bool) -> str:
    """The document a reader means by `given`: a whole document id (`client~task`) as is;
    otherwise a task id in `client_id`'s namespace when namespaced, else the id itself."""
    if SEPARATOR in given or not namespaced or not client_id:
        return given
    return task_doc_id(given, client_id, namespaced=True)
