"""The OpenAI Files API, as the `openai` SDK calls it (`client.files.create/retrieve/content/
delete`), for batch input and output files (`openai_batches.py`):

    POST   /v1/files                  multipart: file, purpose ("batch")   -> file object
    GET    /v1/files/{id}                                                   -> file object
    GET    /v1/files/{id}/content                                           -> the bytes
    DELETE /v1/files/{id}                                                   -> {id, deleted}

The file object read 2026-11-30 from the OpenAI API reference
(https://platform.openai.com/docs/api-reference/files/object) and the openai SDK's
`openai/types/file_object.py` (3.57). Output and error files have purpose `batch_output`.

Files stay in the simulator's memory (`FileStore`), not in the Cloud Storage emulator: OpenAI
keeps them in its own storage, out of the project's reach, so nothing of the system may depend
on reading them from a bucket; and they vanish with the simulator like the emulators' data.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from typing import Any

from infra.simulator import openai_api
from infra.simulator.batch_engine import BatchContext, BatchRequest, Route, StoredFile
from infra.simulator.faults import Outcome
from infra.simulator.wire import BadRequest, Reply

PROVIDER = "openai"


def bad(message: str, param: str | None = None, status: int = 400) -> Reply:
    return openai_api.error(status, message, type_="invalid_request_error", param=param)


def fault(outcome: Outcome) -> Reply:
    return openai_api.fault_reply(outcome, "batch")


# --- files ----------------------------------------------------------------------------------
def _file_object(stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "object": "file",
        "bytes": len(stored.data),
        "created_at": stored.created_at,
        "filename": stored.filename,
        "purpose": stored.purpose,
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


def _form(request: BatchRequest) -> dict[str, MIMEPart]:
    """The parts of a multipart/form-data body, by field name."""
    if not request.content_type.startswith("multipart/form-data"):
        raise BadRequest("the body must be multipart/form-data with 'file' and 'purpose'")
    head = f"Content-Type: {request.content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + request.raw)
    parts = message.iter_parts() if isinstance(message, EmailMessage) else iter(())
    return {str(p.get_param("name", header="content-disposition")): p for p in parts}


def upload_file(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
    try:
        form = _form(request)
    except BadRequest as exc:
        return bad(exc.message)
    purpose = form.get("purpose")
    purpose_text = purpose.get_content().strip() if purpose is not None else ""
    upload = form.get("file")
    if purpose_text != "batch":
        return bad("The simulator accepts purpose 'batch' only.", "purpose")
    if upload is None:
        return bad("'file' is a required property", "file")
    data = upload.get_payload(decode=True)
    filename = upload.get_filename() or "upload.jsonl"
    stored = ctx.files.add(filename, purpose_text, data if isinstance(data, bytes) else b"")
    return Reply(200, _file_object(stored))


def _stored(ctx: BatchContext, match: re.Match[str]) -> StoredFile | Reply:
    stored = ctx.files.get(match["file_id"])
    if stored is None:
        return bad(f"No such File object: {match['file_id']}", "id", status=404)
    return stored


def retrieve_file(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
    stored = _stored(ctx, match)
    return stored if isinstance(stored, Reply) else Reply(200, _file_object(stored))


def file_content(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
    stored = _stored(ctx, match)
    return stored if isinstance(stored, Reply) else Reply(200, {}, raw=stored.data)


def delete_file(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
    stored = _stored(ctx, match)
    if isinstance(stored, Reply):
        return stored
    ctx.files.delete(stored.id)
    return Reply(200, {"id": stored.id, "object": "file", "deleted": True})


_FILE = r"^/v1/files/(?P<file_id>[^/]+)"
ROUTES = tuple(
    Route(PROVIDER, method, re.compile(pattern), handler, fault)
    for method, pattern, handler in (
        ("POST", r"^/v1/files$", upload_file),
        ("GET", _FILE + "$", retrieve_file),
        ("DELETE", _FILE + "$", delete_file),
        ("GET", _FILE + "/content$", file_content),
    )
)
