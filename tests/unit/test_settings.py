from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.settings_reference import env_example
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_env_example_is_generated_from_the_settings_object() -> None:
    assert (REPO / ".env.example").read_text() == env_example(), (
        "regenerate with: .venv/bin/python -m infra.settings_reference > .env.example"
    )


def test_chain_comes_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIEXEC_PROVIDERS", "vertex, openai")
    monkeypatch.setenv("PROVIDER", "vertex")
    settings = Settings()
    assert settings.providers == ["vertex", "openai"]
    assert settings.provider == "vertex"
    assert settings.provider_topic("vertex") == "tasks-vertex"


@pytest.mark.parametrize("chain", ["", "openai,openai"])
def test_a_bad_chain_is_refused(monkeypatch: pytest.MonkeyPatch, chain: str) -> None:
    monkeypatch.setenv("AIEXEC_PROVIDERS", chain)
    with pytest.raises(ValidationError, match="providers"):
        Settings()


def test_the_lease_outlives_every_in_process_retry() -> None:
    settings = Settings(openai_timeout_s=10, provider_attempts=3, lease_margin_s=5)
    assert settings.lease_seconds("openai") == 35
