"""The task as ingest created it, carried in the first hop's message so that the worker can take
its lease without reading the document first.

Why: the lease is a write conditioned on the document's update time, and the worker needs the
task (its request, chain, deadline) to work on it; ingest has both the moment its create
returns. So the first hop's message carries the created document and that update time, and the
worker's lease write is conditioned on it: if it lands, the document was exactly this snapshot
(nothing else wrote since); if it fails, the worker reads and decides as it always did. Stale,
missing or undecodable snapshots therefore cost a failed write at worst, never a wrong decision.

Only small tasks travel this way (`MAX_SNAPSHOT_BYTES`): a long prompt or conversation keeps the
message a pointer, and the worker reads the document. Firestore values are JSON here except
timestamps, tagged `{"$ts": "<RFC 3339>"}`; a value of another type (bytes, a reference) means
no snapshot. The update time travels as RFC 3339 with its nanoseconds (shared/firestore/
conditional.py: `version_text`, `version_of`), since a precondition must match it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import AIExecError

# A hop message carrying a task stays under this: Pub/Sub bills at least 1 KB per message and
# the worker decodes it on every delivery; past it, reading the document costs less.
MAX_SNAPSHOT_BYTES = 16 * 1024
_TS = "$ts"


class _NotPlainError(AIExecError, ValueError):
    """A value this codec does not carry."""


def encode(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """`doc` as JSON-ready data, or None when it holds a value of another type. (The sender
    checks the size on the message it serializes anyway: `MAX_SNAPSHOT_BYTES`.)"""
    try:
        plain = _plain(doc)
    except _NotPlainError:
        return None
    assert isinstance(plain, dict)
    return plain


def decode(data: Mapping[str, Any]) -> dict[str, Any]:
    """The document `encode` was given (timestamps back as aware datetimes)."""
    value = _restore(dict(data))
    assert isinstance(value, dict)
    return value


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _NotPlainError("a naive datetime")
        return {_TS: value.isoformat()}
    if isinstance(value, Mapping):
        if _TS in value:
            raise _NotPlainError("a field named like the timestamp tag")
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    raise _NotPlainError(type(value).__name__)


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_TS}:
            return datetime.fromisoformat(value[_TS])
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return value
