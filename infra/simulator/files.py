"""File parts on each wire: found, typed, sized and counted as prompt tokens, or refused with
the provider's own 400 when the type is one it does not read.

Tokens are deterministic: `FILE_BASE_TOKENS + ceil(bytes / BYTES_PER_TOKEN)` per file, the
same for a file sent inline (base64) and for a Gemini `fileData` `gs://` URI (its size read
from the local Cloud Storage emulator), so one file costs the same on every provider.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import replace
from typing import Any

from infra.simulator import gcs
from infra.simulator.textgen import Generation
from infra.simulator.wire import BadRequest

FILE_BASE_TOKENS = 64
BYTES_PER_TOKEN = 256
URL_FILE_BYTES = 4096  # a file given by https URL (not fetched by the simulator)
IMAGES = ("image/jpeg", "image/png", "image/gif", "image/webp")
PDF = "application/pdf"
# What Gemini reads (images, PDF, and more the system never sends; anything else is refused).
GEMINI_TYPES = (*IMAGES, PDF, "image/heic", "image/heif", "text/plain")
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)


def file_tokens(size: int) -> int:
    return FILE_BASE_TOKENS + math.ceil(size / BYTES_PER_TOKEN)


def with_file_tokens(gen: Generation, tokens: int) -> Generation:
    """The generation with the files' tokens in its prompt tokens (usage reports them)."""
    return replace(gen, prompt_tokens=gen.prompt_tokens + tokens) if tokens else gen


def _decoded_size(data: Any, where: str) -> int:
    if not isinstance(data, str):
        raise BadRequest("file data must be a base64 string", where)
    try:
        return len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError) as error:
        raise BadRequest("file data is not valid base64", where) from error


def _parts(content: Any) -> list[dict[str, Any]]:
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


# --- OpenAI Chat Completions: image_url (data URI or URL) and file (file_data data URI) -------
def openai_tokens(body: dict[str, Any]) -> int:
    total = 0
    for m_index, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        for p_index, part in enumerate(_parts(content)):
            where = f"messages.[{m_index}].content.[{p_index}]"
            if part.get("type") == "image_url":
                total += _openai_image(part.get("image_url"), where)
            elif part.get("type") == "file":
                total += _openai_file(part.get("file"), where)
    return total


def _openai_image(image: Any, where: str) -> int:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str):
        raise BadRequest("image_url.url is required", where)
    if url.startswith("https://"):
        return file_tokens(URL_FILE_BYTES)
    match = _DATA_URI.match(url)
    if match is None or match["mime"] not in IMAGES:
        raise BadRequest(
            "Invalid image: the image data must be a PNG, JPEG, WEBP or non-animated GIF "
            "(a URL or a base64 data URI).",
            f"{where}.image_url.url",
        )
    return file_tokens(_decoded_size(match["data"], f"{where}.image_url.url"))


def _openai_file(file: Any, where: str) -> int:
    data = file.get("file_data") if isinstance(file, dict) else None
    match = _DATA_URI.match(data) if isinstance(data, str) else None
    if match is None or match["mime"] != PDF:
        raise BadRequest(
            "Invalid file data: Chat Completions reads PDF files only "
            "(file.file_data must be a base64 data URI of application/pdf).",
            f"{where}.file.file_data",
        )
    return file_tokens(_decoded_size(match["data"], f"{where}.file.file_data"))


# --- Anthropic Messages: image and document blocks, base64 or url sources ---------------------
def anthropic_tokens(body: dict[str, Any]) -> int:
    total = 0
    for m_index, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        for b_index, block in enumerate(_parts(content)):
            kind = block.get("type")
            if kind in ("image", "document"):
                where = f"messages.{m_index}.content.{b_index}.{kind}.source"
                allowed = IMAGES if kind == "image" else (PDF,)
                total += _anthropic_source(block.get("source"), allowed, where)
    return total


def _anthropic_source(source: Any, allowed: tuple[str, ...], where: str) -> int:
    if not isinstance(source, dict):
        raise BadRequest("Field required", where)
    if source.get("type") == "url":
        return file_tokens(URL_FILE_BYTES)
    if source.get("type") != "base64":
        raise BadRequest("Input tag must be one of 'base64', 'url'", f"{where}.type")
    if source.get("media_type") not in allowed:
        expected = ", ".join(f"'{t}'" for t in allowed)
        raise BadRequest(f"Input should be {expected}", f"{where}.base64.media_type")
    return file_tokens(_decoded_size(source.get("data"), f"{where}.base64.data"))


# --- Gemini (Vertex AI) generateContent: inlineData and fileData (gs://) ----------------------
def gemini_tokens(body: dict[str, Any]) -> int:
    total = 0
    for content in body.get("contents") or []:
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in _parts(parts):
            inline = part.get("inlineData", part.get("inline_data"))
            if isinstance(inline, dict):
                _gemini_type(inline.get("mimeType", inline.get("mime_type")))
                total += file_tokens(_decoded_size(inline.get("data"), "inlineData.data"))
            by_uri = part.get("fileData", part.get("file_data"))
            if isinstance(by_uri, dict):
                _gemini_type(by_uri.get("mimeType", by_uri.get("mime_type")))
                total += file_tokens(_gs_size(by_uri.get("fileUri", by_uri.get("file_uri"))))
    return total


def _gemini_type(mime: Any) -> None:
    if mime not in GEMINI_TYPES:
        raise BadRequest(f"Unsupported MIME type: {mime}")


def _gs_size(uri: Any) -> int:
    """The object's size, from the local Cloud Storage emulator (the simulator's stand-in for
    Vertex AI reading the bucket with its service agent)."""
    if not isinstance(uri, str):
        raise BadRequest("fileData.fileUri is required")
    if uri.startswith("https://"):
        return URL_FILE_BYTES
    try:
        return gcs.object_size(uri)
    except gcs.StorageError as error:
        raise BadRequest(f"Cannot fetch content from the provided URL: {uri}") from error
