"""What only the Anthropic adapter does (the rest is the contract: test_contract.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from infra.settings import Settings
from infra.simulator import SimulatorClient
from shared.providers.anthropic.adapter import (
    API_URL,
    AnthropicProvider,
    resolve_endpoint,
    wire_messages,
)
from shared.providers.base import (
    UNREADABLE_FILE,
    CompletionRequest,
    ErrorKind,
    FileData,
    RequestRefusedError,
    Turn,
)
from tests.providers.helpers import call, failure
from tests.providers.sim_cli import run_cli

MakeSettings = Callable[..., Settings]


def test_thinking_tokens_are_parsed(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    result = call(AnthropicProvider(make_settings(sim.url)), "think", model="claude-opus-5-5")

    assert result.reasoning_tokens > 0
    assert result.completion_tokens > result.reasoning_tokens  # thinking bills as output


def test_auth_is_a_401(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    sim.set_fault("anthropic", "auth")

    assert failure(AnthropicProvider(make_settings(sim.url))).status == 401


def test_a_billing_error_hands_over(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    sim.set_fault("anthropic", "quota")

    error = failure(AnthropicProvider(make_settings(sim.url)))

    # Anthropic's billing_error: no retry on this provider will pay the bill.
    assert (error.kind, error.code, error.status) == (ErrorKind.PROVIDER_FATAL, "quota", 402)


def test_overloaded_529_is_transient(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    sim.set_fault("anthropic", "down", status=529)

    error = failure(AnthropicProvider(make_settings(sim.url)))

    assert (error.kind, error.code, error.status) == (ErrorKind.TRANSIENT, "unavailable", 529)
    assert sim.calls("anthropic") == 1  # the SDK would retry a 529 itself; it must not


def test_the_wire_shape_is_the_messages_api(sim: SimulatorClient) -> None:
    """What the SDK relies on, asserted on the raw wire: the version header is required, errors
    are `{"type": "error", "error": {...}}`, usage is input/output tokens."""
    url = f"{sim.url}/anthropic/v1/messages"
    body = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 500,
        "messages": [{"role": "user", "content": "hi"}],
    }

    missing = httpx.post(url, json=body)
    ok = httpx.post(url, json=body, headers={"anthropic-version": "2023-06-01"})

    assert missing.status_code == 400
    assert missing.json()["type"] == "error"
    assert missing.json()["error"]["type"] == "invalid_request_error"
    message = ok.json()
    assert (message["type"], message["role"], message["stop_reason"]) == (
        "message",
        "assistant",
        "end_turn",
    )
    assert set(message["usage"]) >= {"input_tokens", "output_tokens"}


def test_any_other_sdk_exception_becomes_transient(
    sim: SimulatorClient, make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sdk bug")

    monkeypatch.setattr("anthropic.resources.messages.Messages.create", explode)

    error = failure(AnthropicProvider(make_settings(sim.url)))

    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "unexpected")
    assert "RuntimeError: sdk bug" in error.message


def test_not_configured(make_settings: MakeSettings) -> None:
    error = failure(AnthropicProvider(make_settings(None)))

    assert (error.kind, error.code) == (ErrorKind.PROVIDER_FATAL, "not_configured")


def test_endpoint_resolution(make_settings: MakeSettings) -> None:
    sim_url = "http://127.0.0.1:8090"

    simulator = resolve_endpoint(make_settings(sim_url))
    explicit = resolve_endpoint(make_settings(sim_url, anthropic_base_url="http://llm.local"))
    real = resolve_endpoint(make_settings(sim_url, anthropic_api_key="sk-ant-test"))

    assert simulator is not None
    assert (simulator.base_url, simulator.api_key) == (f"{sim_url}/anthropic", "sim-no-key")
    assert explicit is not None
    assert (explicit.base_url, explicit.api_key) == ("http://llm.local", "sim-no-key")
    # A real key never goes to the local simulator, nor wherever $ANTHROPIC_BASE_URL points.
    assert real is not None
    assert (real.base_url, real.api_key) == (API_URL, "sk-ant-test")
    assert resolve_endpoint(make_settings(None)) is None


def test_aiexec_sim_fault_drives_it(sim: SimulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        run_cli(monkeypatch, sim.url, "fault", "anthropic", "rate-limit", "--retry-after", "2") == 0
    )

    fault = sim.faults()["anthropic"]
    assert (fault["mode"], fault["retry_after_s"]) == ("rate-limit", 2.0)


# --- file parts (issue 15): the mapping only; reading the bytes is the worker's ---------------
PNG = FileData("gs://bucket/cat.png", "image/png", b"\x89PNG fake")
PDF = FileData("https://example.com/paper.pdf", "application/pdf", b"%PDF-1.7 fake")


def files_request(*parts: FileData) -> CompletionRequest:
    return CompletionRequest("", "m", turns=(Turn("user", ("look", *parts)),))


def b64(data: bytes | None) -> str:
    return base64.b64encode(data or b"").decode()


def test_anthropic_gets_image_and_document_blocks() -> None:
    [message] = wire_messages(files_request(PNG, PDF))
    assert message["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": b64(PNG.data)}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                        "data": b64(PDF.data)}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    "part",
    [FileData("gs://bucket/cat.png", "image/png"), FileData("gs://b/sheet.csv", "text/csv", b"a")],
)
def test_a_file_it_cannot_take_hands_the_task_over(part: FileData) -> None:
    with pytest.raises(RequestRefusedError) as caught:
        wire_messages(files_request(part))
    assert caught.value.code == UNREADABLE_FILE and not caught.value.counts_against_provider
