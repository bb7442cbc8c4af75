"""The conversation of a task (`messages`): its parts, and the rules every provider can carry.

Re-exported by shared/schemas.py, where the request uses them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from shared.settings import task_settings

MAX_MESSAGES = 256
MAX_PARTS = 64
MAX_URI_CHARS = 2048
MAX_MIME_TYPE_CHARS = 127
MessageRole = Literal["system", "user", "assistant"]
_PART_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)


class TextPart(BaseModel):
    """A piece of text in a message's content."""

    model_config = _PART_CONFIG

    type: Literal["text"]
    text: str = Field(min_length=1)


class FilePart(BaseModel):
    """A file in a message's content, by reference: `gs://bucket/object` or `https://...`.

    Only the shape is checked here; which schemes, types and sizes are accepted, and reading
    the bytes, belong to shared/attachments/ (ingest refuses what it cannot serve).
    """

    model_config = _PART_CONFIG

    type: Literal["file"]
    uri: str = Field(min_length=1, max_length=MAX_URI_CHARS)
    mime_type: str = Field(
        min_length=3, max_length=MAX_MIME_TYPE_CHARS, pattern=r"^[\w.+-]+/[\w.+-]+$"
    )


ContentPart = Annotated[TextPart | FilePart, Field(discriminator="type")]


class Message(BaseModel):
    """One turn of a conversation: a string, or a list of text and file parts."""

    model_config = _PART_CONFIG

    role: MessageRole
    content: str | list[ContentPart]

    @field_validator("content")
    @classmethod
    def _some_content(cls, value: str | list[Any]) -> str | list[Any]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be blank")
        if isinstance(value, list) and not 1 <= len(value) <= MAX_PARTS:
            raise ValueError(f"must hold 1-{MAX_PARTS} parts")
        return value

    def texts(self) -> list[str]:
        """The message's text, part by part (files excluded)."""
        if isinstance(self.content, str):
            return [self.content]
        return [part.text for part in self.content if isinstance(part, TextPart)]

    def files(self) -> list[FilePart]:
        if isinstance(self.content, str):
            return []
        return [part for part in self.content if isinstance(part, FilePart)]


def named_problem(kind: str, field: str, message: str) -> PydanticCustomError:
    """A cross-field error; `field` in its context names the field for the client (a model
    validator's own location is the whole request)."""
    return PydanticCustomError(kind, "{named_field}: " + message, {"named_field": field})


def check_conversation(messages: list[Message], system: str | None) -> None:
    """Roles every provider's wire form can carry: system messages first only (Gemini's
    `system_instruction` and Anthropic's top-level `system` hold one system text, before the
    turns), never beside the `system` field; then turns starting and ending with the user
    (Gemini and Anthropic expect the model to answer a user turn); total text bounded as
    `task_description` is."""
    leading = 0
    while leading < len(messages) and messages[leading].role == "system":
        leading += 1
    turns = messages[leading:]
    if leading and system is not None:
        raise named_problem(
            "exclusive_fields", "system", "give system in messages or here, not both"
        )
    for index, message in enumerate(turns, start=leading):
        if message.role == "system":
            raise named_problem(
                "invalid_role", f"messages.{index}.role", "system messages must come first"
            )
    for index, message in enumerate(messages):
        if message.files() and message.role != "user":
            # OpenAI takes image and file parts in user messages only.
            raise named_problem(
                "invalid_role", f"messages.{index}.content", "only user messages may hold files"
            )
    if not turns or turns[0].role != "user" or turns[-1].role != "user":
        raise named_problem(
            "invalid_role",
            "messages",
            "after any system messages, the conversation must start and end with a user message",
        )
    limit = task_settings().max_prompt_chars
    total = len(system or "") + sum(len(t) for m in messages for t in m.texts())
    if total > limit:
        raise named_problem(
            "too_large", "messages", f"is {total} characters long; the limit is {limit}"
        )
