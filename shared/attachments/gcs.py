"""Cloud Storage objects read with this function's own identity (ingest: metadata; workers:
the bytes). Against the local emulator when STORAGE_EMULATOR_HOST is set (the client reads it).

The client's own retries are off (`retry=None`) and every call has the attachment timeout: the
worker's retry loop, not the library's two-minute default, decides what a slow read costs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.attachments.errors import (
    TOO_LARGE,
    AttachmentUnavailableError,
    AttachmentUnreadableError,
)
from shared.attachments.refs import GcsObject
from shared.errors import AIExecError


class ObjectUnreadableError(AIExecError):
    """The object does not exist or this identity may not read it (a client's mistake)."""


@lru_cache(maxsize=4)
def _client(project: str) -> Any:
    # Imported here: only functions that read attachments load the storage library.
    from google.cloud.storage import Client

    return Client(project=project)


def _errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(what says the object cannot be read, what is worth retrying)."""
    import requests
    from google.api_core import exceptions as api

    # UnicodeError/ValueError: a name the library cannot put in a request (a lone surrogate
    # from JSON's \udXXX escapes, an invalid bucket name): no such object can exist.
    unreadable = (api.NotFound, api.Forbidden, api.Unauthorized, api.BadRequest, ValueError)
    passing = (
        api.TooManyRequests,
        api.ServerError,
        api.RetryError,
        requests.ConnectionError,
        requests.Timeout,
        ConnectionError,
        TimeoutError,
    )
    return unreadable, passing


def object_size(project: str, ref: GcsObject, timeout_s: float) -> int:
    """The object's size in bytes; ObjectUnreadableError when it is missing or forbidden; other
    failures raise `AttachmentUnavailableError`."""
    unreadable, passing = _errors()
    try:
        blob = _client(project).bucket(ref.bucket).get_blob(ref.name, timeout=timeout_s, retry=None)
    except unreadable as error:
        raise ObjectUnreadableError(type(error).__name__) from error
    except passing as error:
        raise AttachmentUnavailableError(
            "attachment_unavailable", f"Cloud Storage: {type(error).__name__}"
        ) from error
    if blob is None:
        raise ObjectUnreadableError("not found")
    return int(blob.size or 0)


def read_object(project: str, ref: GcsObject, max_bytes: int, timeout_s: float) -> bytes:
    """The object's bytes, at most `max_bytes` (a larger object is refused, never read whole)."""
    unreadable, passing = _errors()
    try:
        blob = _client(project).bucket(ref.bucket).blob(ref.name)
        # `end` is inclusive: one byte more than allowed tells a too-large object apart.
        data: bytes = blob.download_as_bytes(
            start=0, end=max_bytes, timeout=timeout_s, retry=None, checksum=None
        )
    except unreadable as error:
        raise AttachmentUnreadableError(
            "attachment_unreadable", f"Cloud Storage: {type(error).__name__}"
        ) from error
    except passing as error:
        raise AttachmentUnavailableError(
            "attachment_unavailable", f"Cloud Storage: {type(error).__name__}"
        ) from error
    if len(data) > max_bytes:
        raise AttachmentUnreadableError(TOO_LARGE, f"the object is over {max_bytes} bytes")
    return data
