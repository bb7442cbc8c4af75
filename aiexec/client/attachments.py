"""Attachments as a client writes them: a URI (`gs://bucket/object`, `https://…`), its MIME
type guessed from the name, or `TYPE@URI` (`application/pdf@gs://b/report`), or a mapping
`{uri, mime_type}` as the request has it."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

# `TYPE@URI`: a MIME type holds no `@` or `:`, and a URI has its scheme's `:` before any `@`.
_TYPED = re.compile(r"^(?P<mime>[\w.+-]+/[\w.+-]+)@(?P<uri>.+)$")

AttachmentLike = str | Mapping[str, str]


def attachment(item: AttachmentLike) -> dict[str, str]:
    """`{uri, mime_type}` for one attachment; ValueError when the type cannot be told."""
    if not isinstance(item, str):
        return dict(item)
    typed = _TYPED.match(item)
    if typed is not None:
        return {"uri": typed["uri"], "mime_type": typed["mime"]}
    guessed = mimetypes.guess_type(urlsplit(item).path)[0]
    if guessed is None:
        raise ValueError(
            f"cannot tell the MIME type of {item!r} from its name; write TYPE@URI "
            "(e.g. application/pdf@gs://bucket/report)"
        )
    return {"uri": item, "mime_type": guessed}


def attachments(items: Iterable[AttachmentLike]) -> list[dict[str, str]]:
    return [attachment(item) for item in items]
