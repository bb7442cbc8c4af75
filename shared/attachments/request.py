"""A request's files, each with the field that names it, and ingest's checks of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.attachments.check import check_readable
from shared.attachments.errors import AttachmentError
from shared.attachments.limits import AttachmentLimitError, FileRef, check_limits
from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem, FilePart, TaskRequest
from shared.settings_core import CoreSettings


def file_refs(request: TaskRequest) -> list[FileRef]:
    """Every file the request attaches: file parts of `messages`, then `attachments`."""
    refs: list[FileRef] = []
    for m_index, message in enumerate(request.messages or []):
        if isinstance(message.content, str):
            continue
        for p_index, part in enumerate(message.content):
            if isinstance(part, FilePart):
                field = f"messages.{m_index}.content.{p_index}"
                refs.append(FileRef(field, part.uri, part.mime_type))
    attachments: list[Any] = getattr(request, "attachments", None) or []
    refs += [FileRef(f"attachments.{i}", a.uri, a.mime_type) for i, a in enumerate(attachments)]
    return refs


def check_request_limits(settings: CoreSettings, request: TaskRequest) -> None:
    """Refuse (RequestProblemError, 400 naming the field) too many files, a type or a scheme
    not accepted: no network, so clients run it too before sending."""
    refs = file_refs(request)
    if refs:
        count_field = "attachments" if getattr(request, "attachments", None) else "messages"
        _refuse_on_problem(lambda: check_limits(settings, refs, count_field))


def check_request_readable(settings: CoreSettings, request: TaskRequest) -> None:
    """Refuse a file that cannot be read or is over the size limit, with the service's own
    identity (so at ingest, before a task exists: never in a client)."""
    refs = file_refs(request)
    if refs:
        _refuse_on_problem(lambda: check_readable(settings, refs))


def _refuse_on_problem(check: Callable[[], None]) -> None:
    try:
        check()
    except (AttachmentLimitError, AttachmentError) as error:
        message = f"{error.field}: {error.reason}"
        problem = FieldProblem(code=error.code, message=message, field=error.field)
        raise RequestProblemError(problem) from error
