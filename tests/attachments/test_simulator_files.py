"""The simulator's file parts on each wire: counted in the prompt tokens (inline bytes), refused
with the provider's own 400 when of a type the provider does not read."""

from __future__ import annotations

import base64
from typing import Any

from infra.simulator import anthropic_api, gemini_api, openai_api
from infra.simulator.files import file_tokens
from infra.simulator.models import ModelRegistry
from infra.simulator.textgen import PromptCache
from infra.simulator.wire import Reply
from tests.attachments.conftest import pdf_bytes, png_bytes

PNG, PDF = png_bytes(), pdf_bytes()
B64 = {"png": base64.b64encode(PNG).decode(), "pdf": base64.b64encode(PDF).decode()}
OPENAI_MODEL, GEMINI_MODEL, CLAUDE_MODEL = "gpt-6.1-terra", "gemini-3.8-flash", "claude-sonnet-5-5"


def openai(parts: list[dict[str, Any]]) -> Reply:
    body = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": parts}]}
    return openai_api.complete(body, PromptCache(), ModelRegistry())


def claude(blocks: list[dict[str, Any]]) -> Reply:
    body = {
        "model": CLAUDE_MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": blocks}],
    }
    return anthropic_api._complete(body, PromptCache(), ModelRegistry())


def gemini(parts: list[dict[str, Any]]) -> Reply:
    body = {"contents": [{"role": "user", "parts": parts}]}
    return gemini_api.complete(body, GEMINI_MODEL, GEMINI_MODEL, PromptCache(), ModelRegistry())


TEXT = {"type": "text", "text": "What is this?"}


def test_openai_counts_images_and_pdfs_and_refuses_other_files() -> None:
    plain = openai([TEXT]).body["usage"]["prompt_tokens"]
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64['png']}"}}
    pdf = {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{B64['pdf']}"},
    }
    reply = openai([TEXT, image, pdf])
    assert reply.status == 200, reply.body
    assert reply.body["usage"]["prompt_tokens"] == plain + file_tokens(len(PNG)) + file_tokens(
        len(PDF)
    )
    text_file = {
        "type": "file",
        "file": {"filename": "a.txt", "file_data": "data:text/plain;base64,eA=="},
    }
    refused = openai([TEXT, text_file])
    assert refused.status == 400
    assert refused.body["error"]["type"] == "invalid_request_error"
    assert "PDF" in refused.body["error"]["message"]
    bad_image = {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,eA=="}}
    assert openai([TEXT, bad_image]).status == 400


def test_anthropic_counts_image_and_document_blocks_and_refuses_other_types() -> None:
    plain = claude([TEXT]).body["usage"]["input_tokens"]
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": B64["png"]},
    }
    doc = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": B64["pdf"]},
    }
    reply = claude([TEXT, image, doc])
    assert reply.status == 200, reply.body
    assert reply.body["usage"]["input_tokens"] == plain + file_tokens(len(PNG)) + file_tokens(
        len(PDF)
    )
    tiff = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/tiff", "data": "eA=="},
    }
    refused = anthropic_api.answer(
        {
            "model": CLAUDE_MODEL,
            "max_tokens": 9,
            "messages": [{"role": "user", "content": [TEXT, tiff]}],
        },
        None,  # type: ignore[arg-type]
        {"anthropic-version": "2023-06-01"},
        PromptCache(),
        ModelRegistry(),
    )
    assert refused.status == 400
    assert (
        refused.body["type"] == "error" and refused.body["error"]["type"] == "invalid_request_error"
    )
    assert "media_type" in refused.body["error"]["message"]


def test_gemini_counts_inline_data_and_refuses_other_types() -> None:
    plain = gemini([{"text": "What is this?"}]).body["usageMetadata"]["promptTokenCount"]
    inline = {"inlineData": {"mimeType": "application/pdf", "data": B64["pdf"]}}
    reply = gemini([{"text": "What is this?"}, inline])
    assert reply.status == 200, reply.body
    assert reply.body["usageMetadata"]["promptTokenCount"] == plain + file_tokens(len(PDF))
    video = {"inlineData": {"mimeType": "video/x-unknown", "data": "eA=="}}
    refused = gemini([{"text": "x"}, video])
    assert refused.status == 400
    assert refused.body["error"]["status"] == "INVALID_ARGUMENT"
    assert "Unsupported MIME type" in refused.body["error"]["message"]
