"""How an attachment problem is classified, at ingest and at the worker."""

from __future__ import annotations

from shared.errors import AIExecError
from shared.providers.base import InvalidTaskError, TransientError

UNREADABLE = "attachment_unreadable"
TOO_LARGE = "attachment_too_large"
UNAVAILABLE = "attachment_unavailable"


class AttachmentError(AIExecError):
    """An attachment ingest refuses: `code` (above), the field it names, and why."""

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.code = code
        self.field = field
        self.reason = reason


class AttachmentUnreadableError(InvalidTaskError):
    """The worker cannot read an attachment (gone, forbidden, too large, not what it claimed):
    no provider can take the task, so it fails at once (never retried, never counted against
    the provider)."""


class AttachmentUnavailableError(TransientError):
    """Reading an attachment failed for a passing reason (Cloud Storage 429/5xx, a timeout):
    retried like a transient provider error, but it says nothing about the provider's health."""

    counts_against_provider = False
