"""What only the Vertex AI adapter does (the rest is the contract: test_contract.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.settings import Settings
from infra.simulator import SimulatorClient
from shared.providers.base import (
    CompletionRequest,
    ErrorKind,
    FileData,
    Turn,
)
from shared.providers.vertex.adapter import VertexProvider, wire_contents
from tests.providers.helpers import call, failure

MakeSettings = Callable[..., Settings]


def test_thought_tokens_are_parsed(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    result = call(VertexProvider(make_settings(sim.url)), "think", model="gemini-4-argon")

    assert result.reasoning_tokens > 0
    assert result.completion_tokens > result.reasoning_tokens  # thoughts bill as output


def test_auth_is_a_403(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    sim.set_fault("vertex", "auth")

    assert failure(VertexProvider(make_settings(sim.url))).status == 403


def test_resource_exhausted_is_retried(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    sim.set_fault("vertex", "quota")

    error = failure(VertexProvider(make_settings(sim.url)))

    # Vertex's RESOURCE_EXHAUSTED is a per-minute quota, which Google says to retry with backoff.
    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "rate_limited")


def test_any_other_sdk_exception_becomes_transient(
    sim: SimulatorClient, make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sdk bug")

    monkeypatch.setattr("google.genai.models.Models.generate_content", explode)

    error = failure(VertexProvider(make_settings(sim.url)))

    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "unexpected")
    assert "RuntimeError: sdk bug" in error.message


def test_without_credentials_is_not_configured(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # ADC then fails at once instead of probing a metadata server.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))

    error = failure(VertexProvider(make_settings(None)))

    assert (error.kind, error.code) == (ErrorKind.PROVIDER_FATAL, "not_configured")


# --- file parts (issue 15): the mapping only; reading the bytes is the worker's ---------------
PNG = FileData("gs://bucket/cat.png", "image/png", b"\x89PNG fake")
PDF = FileData("https://example.com/paper.pdf", "application/pdf", b"%PDF-1.7 fake")


def files_request(*parts: FileData) -> CompletionRequest:
    return CompletionRequest("", "m", turns=(Turn("user", ("look", *parts)),))


def b64(data: bytes | None) -> str:
    return base64.b64encode(data or b"").decode()


def test_vertex_reads_gs_objects_itself_and_takes_bytes_inline() -> None:
    by_uri = FileData("gs://bucket/cat.png", "image/png")
    [content] = wire_contents(files_request(by_uri, PDF))
    assert content.role == "user"
    assert content.parts is not None
    text, uri, inline = content.parts
    assert text.text == "look"
    assert uri.file_data is not None and uri.file_data.file_uri == "gs://bucket/cat.png"
    assert inline.inline_data is not None and inline.inline_data.data == PDF.data
    turns = (Turn("user", ("a",)), Turn("assistant", ("b",)), Turn("user", ("c",)))
    roles = [c.role for c in wire_contents(CompletionRequest("", "m", turns=turns))]
    assert roles == ["user", "model", "user"]
