"""Both provider adapters through the real `openai` and `google-genai` SDKs against the simulator.

Every failure case also checks the simulator's call counter: exactly one call reached the
"provider", i.e. neither SDK retried behind the worker's back.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from infra.simulator import SimulatorClient
from shared.providers.base import (
    Completion,
    CompletionRequest,
    ErrorKind,
    InvalidTaskError,
    Provider,
    ProviderError,
    ProviderFatalError,
    RequestRefusedError,
    TransientError,
)
from shared.providers.errors import error_for_status, parse_retry_after, retry_after_from_headers
from shared.providers.openai.adapter import OpenAIProvider, resolve_endpoint
from shared.providers.registry import get_provider
from shared.providers.vertex.adapter import VertexProvider
from shared.settings import Settings

MakeSettings = Callable[..., Settings]
PROVIDERS = ["openai", "vertex"]
MODEL = {"openai": "gpt-6.1-terra", "vertex": "gemini-3.8-flash"}


def adapter(name: str, settings: Settings) -> Provider:
    return OpenAIProvider(settings) if name == "openai" else VertexProvider(settings)


def call(provider: Provider, prompt: str = "hello", **kwargs: object) -> Completion:
    model = str(kwargs.pop("model", provider.default_model()))
    return provider.complete(CompletionRequest(prompt=prompt, model=model, **kwargs))  # type: ignore[arg-type]


def failure(provider: Provider, prompt: str = "hello", **kwargs: object) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call(provider, prompt, **kwargs)
    return info.value


@pytest.fixture(params=PROVIDERS)
def name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


# --- successful calls -------------------------------------------------------------------------


def test_completion_text_and_usage(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    provider = adapter(name, make_settings(sim.url))
    prompt, system = "Summarise the design of the worker", "Answer in one line."

    result = call(provider, prompt, system=system, temperature=0.2)

    assert result.text.startswith(f"[sim:{name}/{MODEL[name]}] ")
    assert "Summarise the design of the worker" in result.text
    assert result.model == MODEL[name]
    assert result.finish_reason == "stop"
    assert result.prompt_tokens == math.ceil(len(prompt) / 4) + math.ceil(len(system) / 4)
    assert result.completion_tokens == math.ceil(len(result.text) / 4)
    assert result.total_tokens == result.prompt_tokens + result.completion_tokens
    assert (result.cached_tokens, result.reasoning_tokens) == (0, 0)
    assert call(provider, prompt, system=system) == result  # deterministic
    assert sim.calls(name) == 2


def test_max_output_tokens_gives_length_finish(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    result = call(adapter(name, make_settings(sim.url)), "a long essay", max_output_tokens=3)

    assert result.finish_reason == "length"
    assert result.completion_tokens == 3


@pytest.mark.parametrize(
    ("name", "model"), [("openai", "gpt-6.2-sol"), ("vertex", "gemini-4-argon")]
)
def test_reasoning_and_cached_tokens_are_parsed(
    name: str, model: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    provider = adapter(name, make_settings(sim.url))
    prompt = "context " * 700  # 5600 chars = 1400 tokens: long enough to be cached on repeat

    first = call(provider, prompt, model=model)
    second = call(provider, prompt, model=model)

    assert first.reasoning_tokens > 0
    assert first.completion_tokens > first.reasoning_tokens  # reasoning counts as output
    assert first.total_tokens == first.prompt_tokens + first.completion_tokens
    assert first.cached_tokens == 0
    assert second.cached_tokens == 1280  # 1024 + 2 x 128


def test_registry_builds_the_adapters(make_settings: MakeSettings) -> None:
    settings = make_settings("http://127.0.0.1:1")

    assert isinstance(get_provider("openai", settings), OpenAIProvider)
    assert isinstance(get_provider("vertex", settings), VertexProvider)
    assert get_provider("openai", settings).default_model() == settings.openai_model


# --- faults mapped onto error kinds -----------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "params", "kind", "code", "status"),
    [
        ("down", {}, ErrorKind.TRANSIENT, "unavailable", 503),
        ("down", {"status": 500}, ErrorKind.TRANSIENT, "unavailable", 500),
        ("down", {"status": 504}, ErrorKind.TRANSIENT, "timeout", 504),
        ("flaky", {"failure_rate": 1.0}, ErrorKind.TRANSIENT, "unavailable", 503),
        ("rate-limit", {"retry_after_s": 2}, ErrorKind.TRANSIENT, "rate_limited", 429),
        ("auth", {}, ErrorKind.PROVIDER_FATAL, "auth", None),
        ("reset", {}, ErrorKind.TRANSIENT, "connection", None),
    ],
)
def test_fault_modes_map_to_error_kinds(
    name: str,
    mode: str,
    params: dict[str, float],
    kind: ErrorKind,
    code: str,
    status: int | None,
    sim: SimulatorClient,
    make_settings: MakeSettings,
) -> None:
    sim.set_fault(name, mode, **params)

    error = failure(adapter(name, make_settings(sim.url)))

    assert (error.kind, error.code) == (kind, code)
    if status is not None:
        assert error.status == status
    assert sim.calls(name) == 1  # no SDK retry


def test_auth_statuses_are_provider_specific(
    sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault("openai", "auth")
    sim.set_fault("vertex", "auth")

    assert failure(adapter("openai", make_settings(sim.url))).status == 401
    assert failure(adapter("vertex", make_settings(sim.url))).status == 403


def test_retry_after_is_honoured(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault(name, "rate-limit", retry_after_s=3)

    error = failure(adapter(name, make_settings(sim.url)))

    assert isinstance(error, TransientError)
    assert error.retry_after_s == 3.0


def test_openai_retry_after_keeps_sub_second_precision(
    sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault("openai", "rate-limit", retry_after_s=0.25)

    assert failure(adapter("openai", make_settings(sim.url))).retry_after_s == 0.25


def test_quota_exhaustion(sim: SimulatorClient, make_settings: MakeSettings) -> None:
    sim.set_fault("openai", "quota")
    sim.set_fault("vertex", "quota")

    openai_error = failure(adapter("openai", make_settings(sim.url)))
    vertex_error = failure(adapter("vertex", make_settings(sim.url)))

    # OpenAI's insufficient_quota is a billing state: retrying the same provider cannot help.
    assert (openai_error.kind, openai_error.code) == (ErrorKind.PROVIDER_FATAL, "quota")
    # Vertex's RESOURCE_EXHAUSTED is a per-minute quota, which Google says to retry with backoff.
    assert (vertex_error.kind, vertex_error.code) == (ErrorKind.TRANSIENT, "rate_limited")


def test_slow_beyond_the_timeout_is_a_transient_timeout(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault(name, "slow", delay_s=5)
    settings = make_settings(sim.url, openai_timeout_s=0.5, vertex_timeout_s=0.5)

    error = failure(adapter(name, settings))

    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "timeout")
    assert sim.calls(name) == 1


def test_slow_within_the_timeout_succeeds(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault(name, "slow", delay_s=0.2)

    assert call(adapter(name, make_settings(sim.url))).finish_reason == "stop"


def test_context_too_long_hands_over(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    error = failure(adapter(name, make_settings(sim.url)), "[sim:context-too-long] a huge document")

    assert isinstance(error, ProviderFatalError)
    assert error.code == "context_length_exceeded"
    assert error.status == 400


def test_a_blocked_prompt_is_refused_and_never_counts_against_the_provider(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    error = failure(adapter(name, make_settings(sim.url)), "[sim:blocked] something nasty")

    assert isinstance(error, RequestRefusedError)  # another provider may judge otherwise
    assert error.code == "blocked"
    assert not error.counts_against_provider
    assert sim.calls(name) == 1


def test_invalid_request_is_an_invalid_task(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    error = failure(adapter(name, make_settings(sim.url)), "[sim:invalid] please")

    assert isinstance(error, InvalidTaskError)
    assert error.code == "invalid_request"
    assert sim.calls(name) == 1


def test_a_model_the_provider_does_not_have_is_model_unavailable(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    provider = adapter(name, make_settings(sim.url))
    unknown = failure(provider, model="no-such-model-1")
    sim.set_model(name, MODEL[name], retired=True)  # the default model, shut down at run time
    retired = failure(provider)

    for error in (unknown, retired):
        assert isinstance(error, ProviderFatalError)
        assert (error.code, error.status) == ("model_unavailable", 404)
    assert sim.calls(name) == 2


def test_a_404_that_is_not_about_the_model_is_not_model_unavailable(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    # A wrong endpoint: the simulator's plain 404 names no model, as a real one would not.
    wrong = (
        make_settings(None, openai_base_url=f"{sim.url}/v9")
        if name == "openai"
        else make_settings(sim.url, vertex_base_url=f"{sim.url}/nowhere")
    )

    error = failure(adapter(name, wrong))

    assert isinstance(error, ProviderFatalError)
    assert (error.code, error.status) == ("not_found", 404)


def test_unreachable_endpoint_is_transient(name: str, make_settings: MakeSettings) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    error = failure(adapter(name, make_settings(f"http://127.0.0.1:{port}")))

    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "connection")


def test_any_other_sdk_exception_becomes_transient(
    name: str, sim: SimulatorClient, make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sdk bug")

    target = (
        "openai.resources.chat.completions.Completions.create"
        if name == "openai"
        else "google.genai.models.Models.generate_content"
    )
    monkeypatch.setattr(target, explode)

    error = failure(adapter(name, make_settings(sim.url)))

    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "unexpected")
    assert "RuntimeError: sdk bug" in error.message


# --- configuration ----------------------------------------------------------------------------


def test_openai_not_configured(make_settings: MakeSettings) -> None:
    error = failure(OpenAIProvider(make_settings(None)))

    assert (error.kind, error.code) == (ErrorKind.PROVIDER_FATAL, "not_configured")


def test_vertex_without_credentials_is_not_configured(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # ADC then fails at once instead of probing a metadata server.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))

    error = failure(VertexProvider(make_settings(None)))

    assert (error.kind, error.code) == (ErrorKind.PROVIDER_FATAL, "not_configured")


def test_openai_endpoint_resolution(make_settings: MakeSettings) -> None:
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


# --- the shared classification helpers --------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)

    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(later, now=now.timestamp()) == 90.0
    assert parse_retry_after(format_datetime(now, usegmt=True), now=now.timestamp() + 5) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert retry_after_from_headers({"Retry-After": "2", "retry-after-ms": "1500"}) == 1.5
    assert retry_after_from_headers({"Retry-After": "2"}) == 2.0
    assert retry_after_from_headers(None) is None


@pytest.mark.parametrize(
    ("status", "provider_code", "expected", "code"),
    [
        (400, None, InvalidTaskError, "invalid_request"),
        (422, None, InvalidTaskError, "invalid_request"),
        (400, "context_length_exceeded", RequestRefusedError, "context_length_exceeded"),
        (401, None, ProviderFatalError, "auth"),
        (402, None, ProviderFatalError, "quota"),
        (403, None, ProviderFatalError, "auth"),
        (404, None, RequestRefusedError, "not_found"),
        (404, "model_unavailable", RequestRefusedError, "model_unavailable"),
        (413, None, RequestRefusedError, "context_length_exceeded"),
        (418, None, RequestRefusedError, "client_error"),
        (429, None, TransientError, "rate_limited"),
        (429, "insufficient_quota", ProviderFatalError, "quota"),
        (500, None, TransientError, "unavailable"),
        (502, None, TransientError, "unavailable"),
        (504, None, TransientError, "timeout"),
    ],
)
def test_status_table(
    status: int, provider_code: str | None, expected: type[ProviderError], code: str
) -> None:
    error = error_for_status(status, "boom", provider_code=provider_code, retry_after_s=1.0)

    assert type(error) is expected
    assert (error.code, error.status) == (code, status)
    assert error.retry_after_s == (1.0 if expected is TransientError else None)
    # Only the provider's own failures count for its circuit breaker, never the request's.
    request_caused = expected in (InvalidTaskError, RequestRefusedError)
    assert error.counts_against_provider is not request_caused
