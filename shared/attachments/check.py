"""Ingest's check of a request's attachments, before a task exists: each `gs://` object exists
and is within the size limit (its metadata, read with ingest's identity), each `https` URL
resolves to public addresses and answers a HEAD within the limit. A file that cannot be read is
refused here (400 `attachment_unreadable`), never left for a worker to fail on."""

from __future__ import annotations

from collections.abc import Sequence

from shared.attachments import gcs, https
from shared.attachments.errors import (
    TOO_LARGE,
    UNREADABLE,
    AttachmentError,
    AttachmentUnreadableError,
)
from shared.attachments.limits import FileRef
from shared.attachments.refs import GS, gcs_object, scheme
from shared.settings_core import CoreSettings


def check_readable(settings: CoreSettings, files: Sequence[FileRef]) -> None:
    """Raise `AttachmentError` naming the first file that cannot be read or is too large.

    A passing failure (Cloud Storage 5xx, a timeout) raises `AttachmentUnavailableError`:
    the request is not refused for it (HTTP 500, a Pub/Sub message is redelivered)."""
    for ref in files:
        size = _size(settings, ref)
        if size is not None and size > settings.max_attachment_bytes:
            raise AttachmentError(
                TOO_LARGE,
                f"{ref.field}.uri",
                f"the file is {size} bytes; the limit is {settings.max_attachment_bytes}",
            )


def _size(settings: CoreSettings, ref: FileRef) -> int | None:
    timeout = settings.attachment_timeout_s
    field = f"{ref.field}.uri"
    if scheme(ref.uri) == GS:
        try:
            return gcs.object_size(settings.project_id, gcs_object(ref.uri), timeout)
        except gcs.ObjectUnreadableError as error:
            raise AttachmentError(
                UNREADABLE, field, "the object does not exist or this service may not read it"
            ) from error
    try:
        pinned = https.pin(ref.uri, settings.attachment_allow_private)
        return https.head_size(pinned, timeout)
    except AttachmentUnreadableError as error:
        raise AttachmentError(UNREADABLE, field, error.message) from error
