"""What only the OpenAI adapter does (the rest is the contract: test_contract.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from infra.settings import Settings
from infra.simulator import SimulatorClient
from shared.providers.base import (
    UNREADABLE_FILE,
    CompletionRequest,
    ErrorKind,
    FileData,
    RequestRefusedError,
    Turn,
)
from shared.providers.openai.adapter import OpenAIProvider, resolve_endpoint, wire_messages
from tests.providers.helpers import call, failure

MakeSettings = Callable[..., Settings]


def test_reasoning_tokens_are_parsed(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    result = call(OpenAIProvider(make_settings(sim.url)), "think", model="gpt-6.2-sol")

    assert result.reasoning_tokens > 0
    assert result.completion_tokens > result.reasoning_tokens  # reasoning counts as output


def test_auth_is_a_401(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    sim.set_fault("openai", "auth")

    assert failure(OpenAIProvider(make_settings(sim.url))).status == 401


def test_retry_after_keeps_sub_second_precision(
    sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault("openai", "rate-limit", retry_after_s=0.25)

    assert failure(OpenAIProvider(make_settings(sim.url))).retry_after_s == 0.25


def test_insufficient_quota_hands_over(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    sim.set_fault("openai", "quota")

    error = failure(OpenAIProvider(make_settings(sim.url)))

    # OpenAI's insufficient_quota is a billing state: retrying the same provider cannot help.
    assert (error.kind, error.code) == (ErrorKind.PROVIDER_FATAL, "quota")


def test_any_other_sdk_exception_becomes_transient(
    sim: SimulatorClient, make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sdk bug")

    monkeypatch.setattr("openai.resources.chat.completions.Completions.create", explode)

    error = failure(OpenAIProvider(make_settings(sim.url)))

    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "unexpected")
    assert "RuntimeError: sdk bug" in error.message


def test_not_configured(make_settings: MakeSettings) -> None:
    error = failure(OpenAIProvider(make_settings(None)))

    assert (error.kind, error.code) == (ErrorKind.PROVIDER_FATAL, "not_configured")


def test_endpoint_resolution(make_settings: MakeSettings) -> None:
    sim_url = "http://127.0.0.1:8090"

    simulator = resolve_endpoint(make_settings(sim_url))
    explicit = resolve_endpoint(make_settings(sim_url, openai_base_url="http://llm.local/v1"))
    real = resolve_endpoint(make_settings(sim_url, openai_api_key="sk-test"))

    assert simulator is not None
    assert (simulator.base_url, simulator.api_key) == (f"{sim_url}/v1", "sim-no-key")
    assert explicit is not None
    assert (explicit.base_url, explicit.api_key) == ("http://llm.local/v1", "sim-no-key")
    # A real key never goes to the local simulator.
    assert real is not None
    assert (real.base_url, real.api_key) == (None, "sk-test")
    assert resolve_endpoint(make_settings(None)) is None


# --- file parts (issue 15): the mapping only; reading the bytes is the worker's ---------------
PNG = FileData("gs://bucket/cat.png", "image/png", b"\x89PNG fake")
PDF = FileData("https://example.com/paper.pdf", "application/pdf", b"%PDF-1.7 fake")


def files_request(*parts: FileData) -> CompletionRequest:
    return CompletionRequest("", "m", turns=(Turn("user", ("look", *parts)),))


def b64(data: bytes | None) -> str:
    return base64.b64encode(data or b"").decode()


def test_openai_gets_images_as_data_uris_and_pdfs_as_file_parts() -> None:
    [message] = wire_messages(files_request(PNG, PDF))
    assert message["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG.data)}"}},
        {
            "type": "file",
            "file": {"file_data": f"data:application/pdf;base64,{b64(PDF.data)}",
                     "filename": "paper.pdf"},
        },
    ]  # fmt: skip
    by_url = FileData("https://example.com/cat.png", "image/png")
    [message] = wire_messages(files_request(by_url))
    assert list(message.get("content") or [])[1] == {
        "type": "image_url",
        "image_url": {"url": by_url.uri},
    }


def test_a_document_without_its_bytes_hands_the_task_over() -> None:
    with pytest.raises(RequestRefusedError) as caught:
        wire_messages(files_request(FileData("gs://bucket/paper.pdf", "application/pdf")))
    assert caught.value.code == UNREADABLE_FILE and not caught.value.counts_against_provider
