"""What a task may attach, checked without the network (in the request schema, so the client
and `aiexec submit` refuse it before sending): how many files, which schemes, which types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.attachments.refs import GS, HTTP, HTTPS, gcs_object, scheme
from shared.errors import AIExecError
from shared.outbound_urls import OutboundUrlError, check_syntax
from shared.settings_core import CoreSettings

UNSUPPORTED = "unsupported_attachment"
TOO_MANY = "too_many_attachments"


@dataclass(frozen=True)
class FileRef:
    """One attached file and the request field that names it (`attachments.1`,
    `messages.2.content.0`)."""

    field: str
    uri: str
    mime_type: str


class AttachmentLimitError(AIExecError, ValueError):
    """A limit a request breaks: the code, the field and why (the schema turns it into a
    validation error naming the field)."""

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.field = field
        self.reason = reason


def check_limits(settings: CoreSettings, files: Sequence[FileRef], count_field: str) -> None:
    """Raise `AttachmentLimitError` for the first file the settings refuse, or for too many files
    (`count_field` names where the count went over)."""
    if len(files) > settings.max_attachments:
        raise AttachmentLimitError(
            TOO_MANY,
            count_field,
            f"{len(files)} files attached; the limit is {settings.max_attachments}",
        )
    for ref in files:
        check_type(settings, ref)
        check_uri(settings, ref)


def check_type(settings: CoreSettings, ref: FileRef) -> None:
    allowed = settings.attachment_mime_types
    if ref.mime_type.lower() not in (t.lower() for t in allowed):
        raise AttachmentLimitError(
            UNSUPPORTED,
            f"{ref.field}.mime_type",
            f"{ref.mime_type} is not an accepted type (accepted: {', '.join(allowed)})",
        )


def check_uri(settings: CoreSettings, ref: FileRef) -> None:
    field = f"{ref.field}.uri"
    kind = scheme(ref.uri)
    if kind == GS:
        try:
            gcs_object(ref.uri)
        except ValueError as error:
            raise AttachmentLimitError(UNSUPPORTED, field, str(error)) from error
        return
    if kind in (HTTPS, HTTP):
        try:
            check_syntax(ref.uri, allow_private=settings.attachment_allow_private)
        except OutboundUrlError as error:
            raise AttachmentLimitError(UNSUPPORTED, field, str(error)) from error
        return
    accepted = "gs:// or https://" + (" (or http://)" if settings.attachment_allow_private else "")
    raise AttachmentLimitError(UNSUPPORTED, field, f"must be a {accepted} URI")
