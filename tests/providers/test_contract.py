"""The provider contract, for every provider in the registry, through its real SDK against the
simulator: a completion with usage; each fault mode mapped onto the right error kind; no hidden
SDK retries (every failure case checks that exactly one call reached the "provider"); Retry-After
passed through. A provider added to `shared/providers/registry.py` is tested here without a line
of this file changing. What only one provider does is in `test_<provider>.py`.
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest

from infra.settings import Settings
from infra.simulator import SimulatorClient
from shared.providers.base import (
    ErrorKind,
    InvalidTaskError,
    Provider,
    ProviderFatalError,
    RequestRefusedError,
    TransientError,
)
from shared.providers.registry import SPECS, get_provider, known_providers
from tests.providers.conftest import timeouts
from tests.providers.helpers import call, failure

MakeSettings = Callable[..., Settings]


def adapter(name: str, settings: Settings) -> Provider:
    """A fresh adapter from the provider's spec (`get_provider` caches one per settings object)."""
    return SPECS[name].create(settings)


def default_model(settings: Settings, name: str) -> str:
    section = settings.provider_section(name)
    assert section is not None, f"{name} has no settings section in Settings"
    return section.default_model


@pytest.fixture(params=known_providers())
def name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


# --- the registry and the specs -------------------------------------------------------------


def test_the_registry_builds_each_adapter_with_its_default_model(
    name: str, make_settings: MakeSettings
) -> None:
    settings = make_settings("http://127.0.0.1:1")
    provider = get_provider(name, settings)

    assert provider.name == name == SPECS[name].name
    assert provider.default_model() == default_model(settings, name)
    assert get_provider(name, settings) is provider  # one adapter (and SDK client) per process


def test_specs_load_no_sdk() -> None:
    """Ingest, the deploy planner and the local stack read specs; none may pay for an SDK."""
    code = (
        "import sys; import shared.providers.registry as r; "
        "sdks = {'openai', 'anthropic', 'google.genai', 'httpx2'}; "
        "print(sorted(sdks & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- successful calls -------------------------------------------------------------------------


def test_completion_text_and_usage(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    settings = make_settings(sim.url)
    provider, model = adapter(name, settings), default_model(settings, name)
    prompt, system = "Summarise the design of the worker", "Answer in one line."

    result = call(provider, prompt, system=system, temperature=0.2)

    assert result.text.startswith(f"[sim:{name}/{model}] ")
    assert "Summarise the design of the worker" in result.text
    assert result.model == model
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
    result = call(adapter(name, make_settings(sim.url)), "an essay", max_output_tokens=3)

    assert result.finish_reason == "length"
    assert result.completion_tokens == 3


def test_cached_prompt_tokens_are_parsed(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    provider = adapter(name, make_settings(sim.url))
    prompt = "context " * 700  # 5600 chars = 1400 tokens: long enough to be cached on repeat

    first, second = call(provider, prompt), call(provider, prompt)

    assert first.cached_tokens == 0
    assert second.cached_tokens == 1280  # 1024 + 2 x 128
    assert second.prompt_tokens == first.prompt_tokens  # cached tokens are prompt tokens too
    assert second.total_tokens == second.prompt_tokens + second.completion_tokens


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
    assert error.counts_against_provider  # the provider's health, not the request's fault
    assert sim.calls(name) == 1  # no SDK retry


def test_quota_exhaustion_is_never_the_tasks_fault(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault(name, "quota")

    error = failure(adapter(name, make_settings(sim.url)))

    # A billing state (hand over at once) or a per-minute quota (retry with back-off): either
    # way the provider's, and the task may still succeed elsewhere.
    assert (error.kind, error.code) in {
        (ErrorKind.PROVIDER_FATAL, "quota"),
        (ErrorKind.TRANSIENT, "rate_limited"),
    }
    assert sim.calls(name) == 1


def test_retry_after_is_passed_through(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault(name, "rate-limit", retry_after_s=3)

    error = failure(adapter(name, make_settings(sim.url)))

    assert isinstance(error, TransientError)
    assert error.retry_after_s == 3.0
    assert sim.calls(name) == 1


def test_slow_beyond_the_timeout_is_a_transient_timeout(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault(name, "slow", delay_s=5)

    error = failure(adapter(name, make_settings(sim.url, **timeouts(0.5))))

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
    provider = adapter(name, make_settings(sim.url))

    error = failure(provider, "[sim:context-too-long] a huge document")

    assert isinstance(error, RequestRefusedError)  # a larger window elsewhere may take it
    assert (error.code, error.status) == ("context_length_exceeded", 400)


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
    settings = make_settings(sim.url)
    provider = adapter(name, settings)
    unknown = failure(provider, model="no-such-model-1")
    # The default model, shut down at run time.
    sim.set_model(name, default_model(settings, name), retired=True)
    retired = failure(provider)

    for error in (unknown, retired):
        assert isinstance(error, ProviderFatalError)
        assert (error.code, error.status) == ("model_unavailable", 404)
        assert not error.counts_against_provider
    assert sim.calls(name) == 2


def test_a_404_that_is_not_about_the_model_is_not_model_unavailable(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    # A wrong endpoint (`<provider>_base_url`: each section's field name); the simulator's plain
    # 404 names no model, as a real one would not.
    wrong = make_settings(sim.url, **{f"{name}_base_url": f"{sim.url}/nowhere"})

    error = failure(adapter(name, wrong))

    assert isinstance(error, ProviderFatalError)
    assert (error.code, error.status) == ("not_found", 404)


def test_unreachable_endpoint_is_transient(name: str, make_settings: MakeSettings) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    error = failure(adapter(name, make_settings(f"http://127.0.0.1:{port}")))

    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "connection")
