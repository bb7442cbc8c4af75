"""Hostile-input checks: what ingest refuses before any JSON parser or validator sees a body.

Two layers, both always on (API keys or not):

- `read_body` (HTTP only): `Content-Encoding` must be identity (no decompression bombs),
  `Content-Type` must be JSON (415), and the body is read with a hard cap (413) whether or not
  the client sent `Content-Length` (chunked bodies are cut at the cap, never buffered whole).
- `check_json` (HTTP and the `tasks` topic): strict UTF-8, then a linear scan of the structure
  that caps nesting depth and the number of members (object fields + array items) *before*
  `json` recurses into it, then duplicate keys (parsers disagree on which one wins), lone
  surrogates (not encodable, Firestore would fail) and NUL characters, each naming the field.

Every refusal is a `RequestProblemError`: a status plus `{code, message, field}`; messages name
fields and limits, never echo the content (it may be a prompt).
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.errors import AIExecError
from shared.schemas import FieldProblem
from shared.settings import IngestSettings

# Structural tokens outside strings; a string is matched whole (unrolled loop: no backtracking).
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_COMMA = ord(",")
JSON_SUBTYPE_SUFFIX = "+json"
_READ_CHUNK = 65_536


class RequestProblemError(AIExecError, ValueError):
    """A request we refuse, with the HTTP status it deserves and a problem naming the field."""

    def __init__(
        self, problem: FieldProblem, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.status = status
        self.headers = dict(headers or {})


def refuse(status: int, code: str, message: str, field: str | None = None) -> RequestProblemError:
    return RequestProblemError(FieldProblem(code=code, message=message, field=field), status)


# --- HTTP: headers and the body's size ----------------------------------------------------


def check_content_type(content_type: str | None, *, required: bool) -> None:
    """JSON (`application/json` or `application/*+json`, UTF-8 if a charset is given).

    `required=False` (the V2 `POST /`) accepts a request without a `Content-Type`: old V2
    clients send none. A type that is present and not JSON is always refused.
    """
    if not content_type or not content_type.strip():
        if required:
            raise refuse(
                415,
                "unsupported_media_type",
                "send the body as JSON (Content-Type: application/json)",
            )
        return
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    if mime != "application/json" and not (
        mime.startswith("application/") and mime.endswith(JSON_SUBTYPE_SUFFIX)
    ):
        raise refuse(
            415,
            "unsupported_media_type",
            f"Content-Type {mime[:64]!r} is not JSON; send application/json",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise refuse(415, "unsupported_media_type", "the only accepted charset is utf-8")


def read_body(request: Any, settings: IngestSettings, *, json_type_required: bool) -> bytes:
    """The body of a Flask request, after the header checks, read up to the size cap."""
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise refuse(
            415, "unsupported_encoding", "Content-Encoding is not supported; send the body as is"
        )
    check_content_type(request.headers.get("Content-Type"), required=json_type_required)
    limit = settings.max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(declared, limit)
    body = read_capped(request.stream, limit)
    if len(body) > limit:
        raise too_large(None, limit)
    return body


def read_capped(stream: Any, limit: int) -> bytes:
    """Up to `limit + 1` bytes: one past the cap tells "too large" without reading further.

    A loop, because a WSGI stream's `read(n)` may return fewer bytes than are coming.
    """
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        try:
            chunk: bytes = stream.read(min(_READ_CHUNK, limit + 1 - size))
        except Exception as error:  # the HTTP server's parser: its errors vary
            # A body the HTTP server cannot parse (a malformed chunked encoding, a connection
            # cut short) is the client's doing: 400, not a crash.
            raise refuse(
                400, "bad_request", "the body could not be read (malformed or cut short)"
            ) from error
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def too_large(size: int | None, limit: int) -> RequestProblemError:
    what = f"the body is {size} bytes" if size is not None else "the body is larger than allowed"
    return refuse(413, "too_large", f"{what}; the limit is {limit}")


# --- JSON: encoding, shape, duplicates, characters ----------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """An object as parsed, keys in order (duplicates kept, so that they can be refused)."""


def check_json(body: bytes, settings: IngestSettings) -> None:
    """Refuse bodies that are not UTF-8, too deep, too wide, or ambiguous; else return.

    Syntax errors are left to the validator, which reports them as `invalid_json`.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise refuse(
            400, "invalid_encoding", f"the body is not valid UTF-8 (byte {error.start})"
        ) from error
    scan_structure(body, settings.max_json_depth, settings.max_json_members)
    try:
        document = json.loads(text, object_pairs_hook=_Pairs)
    except ValueError:  # RecursionError cannot happen: the depth was capped above
        return
    _walk(document, "")


def scan_structure(body: bytes, max_depth: int, max_members: int) -> None:
    """Nesting depth and member count from the structural tokens, strings skipped.

    Members are counted as commas + containers: exact for non-empty containers, one too many
    for an empty one, which is all a cap needs.
    """
    depth = 0
    members = 0
    for match in _TOKENS.finditer(body):
        char = match.group()[0]
        if char in _OPENERS:
            depth += 1
            members += 1
            if depth > max_depth:
                raise refuse(400, "too_deep", f"JSON nesting is deeper than {max_depth} levels")
        elif char in _CLOSERS:
            depth = max(0, depth - 1)
        elif char == _COMMA:
            members += 1
        else:
            continue
        if members > max_members:
            raise refuse(
                400, "too_many_fields", f"the body has more than {max_members} fields and items"
            )


def _walk(value: Any, path: str) -> None:
    """Duplicate keys, lone surrogates and NUL characters, naming the field they are in.

    Iterative (an explicit stack), although the depth is already capped, to stay cheap.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _Pairs):
            seen: set[str] = set()
            for key, child in item:
                field = f"{where}.{key}" if where else key
                _check_text(key, field)
                if key in seen:
                    raise refuse(400, "duplicate_field", f"{field}: appears more than once", field)
                seen.add(key)
                stack.append((child, field))
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{index}") for index, child in enumerate(item))
        elif isinstance(item, str):
            _check_text(item, where)


def _check_text(text: str, field: str) -> None:
    name = field or None
    prefix = f"{field}: " if field else ""
    if "\x00" in text:
        raise refuse(400, "invalid_character", f"{prefix}must not contain NUL characters", name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise refuse(
            400, "invalid_encoding", f"{prefix}contains an unpaired surrogate escape", name
        ) from error
