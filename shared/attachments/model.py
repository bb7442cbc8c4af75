"""The `attachments` shortcut of a task request: files attached to the user's prompt (with
`task_description`: its one turn; with `messages`: the last user message)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.conversation import MAX_MIME_TYPE_CHARS, MAX_PARTS, MAX_URI_CHARS

# The schema's own bound, so a huge list is refused before anything reads it; the configured
# limit (AIEXEC_MAX_ATTACHMENTS, shared/attachments/limits.py) is checked by ingest.
MAX_LISTED = MAX_PARTS


class Attachment(BaseModel):
    """A file by reference (`gs://bucket/object` or `https://…`) and its MIME type; like a
    file part of a message, without the `type`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    uri: str = Field(min_length=1, max_length=MAX_URI_CHARS)
    mime_type: str = Field(
        min_length=3, max_length=MAX_MIME_TYPE_CHARS, pattern=r"^[\w.+-]+/[\w.+-]+$"
    )
