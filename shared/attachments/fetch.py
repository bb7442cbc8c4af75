"""A worker reads an attachment's bytes: a `gs://` object with its own identity, an `https`
URL through the outbound-URL guard; within the size limit and the timeout."""

from __future__ import annotations

from shared.attachments import gcs, https
from shared.attachments.refs import GS, gcs_object, scheme
from shared.settings_core import CoreSettings


def read_file(settings: CoreSettings, uri: str) -> bytes:
    """The file's bytes. `AttachmentUnreadableError` when it cannot be read (the task fails);
    `AttachmentUnavailableError` when reading failed for a passing reason (retried)."""
    limit, timeout = settings.max_attachment_bytes, settings.attachment_timeout_s
    if scheme(uri) == GS:
        return gcs.read_object(settings.project_id, gcs_object(uri), limit, timeout)
    pinned = https.pin(uri, settings.attachment_allow_private)  # checked again: DNS may change
    return https.read_url(pinned, limit, timeout)
