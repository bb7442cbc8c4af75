"""From a stored task request to what a provider is asked: the prompt or the conversation, the
system text, the limits and the response schema (one `CompletionRequest`).

The request is the one ingest validated (shared/schemas.py), stored as JSON on the task; file
parts leave here as references (`FileData` without bytes): reading them is shared/attachments/'s.
"""

from __future__ import annotations

from typing import Any

from shared.providers.base import CompletionRequest, FileData, Part, Turn


def completion_request(request: dict[str, Any], model: str) -> CompletionRequest:
    """The call for `model` that the stored `request` asks for."""
    messages: list[dict[str, Any]] = request.get("messages") or []
    system_texts = [_text(m["content"]) for m in messages if m["role"] == "system"]
    if request.get("system"):
        system_texts.insert(0, request["system"])
    turns = tuple(
        Turn(role=m["role"], parts=_parts(m["content"])) for m in messages if m["role"] != "system"
    )
    files = tuple(FileData(a["uri"], a["mime_type"]) for a in request.get("attachments") or [])
    if files:  # `attachments` go with the user's prompt: its one turn, or the last user message
        turns = _attach(turns or (Turn("user", (request.get("task_description") or "",)),), files)
    return CompletionRequest(
        prompt=request.get("task_description") or "",
        model=model,
        system="\n\n".join(system_texts) or None,
        max_output_tokens=request.get("max_output_tokens"),
        temperature=request.get("temperature"),
        turns=turns,
        response_schema=request.get("response_schema"),
    )


def _parts(content: str | list[dict[str, Any]]) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (content,)
    return tuple(
        part["text"] if part["type"] == "text" else FileData(part["uri"], part["mime_type"])
        for part in content
    )


def _attach(turns: tuple[Turn, ...], files: tuple[FileData, ...]) -> tuple[Turn, ...]:
    last = max(i for i, turn in enumerate(turns) if turn.role == "user")
    return (*turns[:last], Turn("user", (*turns[last].parts, *files)), *turns[last + 1 :])


def _text(content: str | list[dict[str, Any]]) -> str:
    """A system message's text (ingest allows only text parts there)."""
    if isinstance(content, str):
        return content
    return "\n".join(part["text"] for part in content if part["type"] == "text")
