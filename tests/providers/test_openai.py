"""What only the OpenAI adapter does (the rest is the contract: test_contract.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.settings import Settings
from infra.simulator import SimulatorClient
from shared.providers.base import ErrorKind
from shared.providers.openai.adapter import OpenAIProvider, resolve_endpoint
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
