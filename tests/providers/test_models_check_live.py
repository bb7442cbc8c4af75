"""`aiexec models check` against the simulator's model lists, through the real SDKs
(OpenAI `GET /v1/models` with `shutdown_date`; Vertex AI's publisher-model lookup)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from aiexec.cli import models as models_cli
from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, main
from infra.settings import Settings
from infra.simulator import SimulatorClient

pytestmark = pytest.mark.usefixtures("default_settings_env")


def rows(settings: Settings) -> dict[tuple[str, str], models_cli.Checked]:
    return {
        (c.configured.provider, c.configured.model): c
        for c in models_cli.check(settings, offline=False)
    }


def test_every_default_model_is_listed_by_its_provider(
    sim: SimulatorClient, make_settings: Callable[..., Settings]
) -> None:
    checked = rows(make_settings(sim.url))
    assert checked and all(c.provider_view and c.provider_view.listed for c in checked.values())
    assert all(not c.problems for c in checked.values())


def test_a_model_the_provider_retired_is_reported_on_both_providers(
    sim: SimulatorClient, make_settings: Callable[..., Settings]
) -> None:
    sim.set_model("openai", "gpt-6.1-terra", retired=True)
    sim.set_model("vertex", "gemini-3.8-flash", retired=True)
    checked = rows(make_settings(sim.url))
    for key in (("openai", "gpt-6.1-terra"), ("vertex", "gemini-3.8-flash")):
        view = checked[key].provider_view
        assert view is not None and view.listed is False
        assert any("does not list" in p for p in checked[key].problems)
    assert not checked[("openai", "gpt-6.2-sol")].problems


def test_a_shutdown_announced_by_the_provider_is_reported(
    sim: SimulatorClient, make_settings: Callable[..., Settings]
) -> None:
    sim.set_model("openai", "gpt-6.2-sol", shutdown_date="2027-01-10")
    checked = rows(make_settings(sim.url, model_shutdown_warn_days=3650))
    view = checked[("openai", "gpt-6.2-sol")].provider_view
    assert view is not None and str(view.shutdown_date) == "2027-01-10"
    assert any("2027-01-10" in p for p in checked[("openai", "gpt-6.2-sol")].problems)


def _cli(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *argv: str) -> int:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from infra.settings import get_settings

    get_settings.cache_clear()
    try:
        return main(["models", "check", *argv])
    finally:
        get_settings.cache_clear()


def test_exit_codes_and_json(
    sim: SimulatorClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIEXEC_STATE_DIR", "/nonexistent")  # no local stack's settings
    env = {"AIEXEC_SIMULATOR_URL": sim.url}
    assert _cli(monkeypatch, env, "--json") == EXIT_OK
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert document["ok"] is True and document["warn_days"] == 60
    sim.set_model("openai", "gpt-6-luna", retired=True)
    assert _cli(monkeypatch, env) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "ATTENTION" in out and "openai does not list 'gpt-6-luna'" in out
    assert _cli(monkeypatch, env | {"AIEXEC_OPENAI_MODEL": "gpt-5"}, "--offline") == EXIT_FAILED
    assert "2026-12-11" in capsys.readouterr().out  # "shuts down on" or, later, "was shut down on"


def test_no_endpoint_is_exit_3_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIEXEC_STATE_DIR", "/nonexistent")
    assert _cli(monkeypatch, {"AIEXEC_PROVIDERS": "openai"}) == EXIT_UNREACHABLE
    assert "--offline" in capsys.readouterr().out


def test_a_vertex_shutdown_announced_by_the_provider_is_reported(
    sim: SimulatorClient, make_settings: Callable[..., Settings]
) -> None:
    sim.set_model("vertex", "gemini-4-argon", shutdown_date="2027-01-05")
    checked = rows(make_settings(sim.url))
    view = checked[("vertex", "gemini-4-argon")].provider_view
    assert view is not None and view.listed and str(view.shutdown_date) == "2027-01-05"
    assert any("2027-01-05" in p for p in checked[("vertex", "gemini-4-argon")].problems)
