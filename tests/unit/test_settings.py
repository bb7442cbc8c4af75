from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.settings import Settings
from infra.settings_deploy import DeploySettings
from infra.settings_localstack import LocalStackSettings
from infra.settings_monitoring import MonitoringSettings
from infra.settings_reference import env_example
from shared.providers.registry import SPECS
from shared.settings import (
    IngestSettings,
    ReportServiceSettings,
    RuntimeSettings,
    TaskSettings,
)
from shared.settings_reports import ReportSettings
from shared.settings_security import SecuritySettings

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


def test_a_provider_section_is_read_by_name_and_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIEXEC_VERTEX_MODEL", "gemini-x")
    monkeypatch.setenv("AIEXEC_VERTEX_FALLBACK_MODELS_BY_TYPE", "code=gemini-y")
    section = Settings(vertex_timeout_s=12).provider_section("vertex")
    assert section is not None
    assert (section.default_model, section.timeout_s) == ("gemini-x", 12)
    assert section.fallback_models_by_type == {"code": "gemini-y"}
    assert Settings().provider_section("nosuch") is None


def test_every_registered_provider_has_a_settings_section() -> None:
    assert set(SPECS) <= set(Settings().provider_names())


def test_each_service_is_given_only_its_sections() -> None:
    task, ingest = set(TaskSettings.model_fields), set(IngestSettings.model_fields)
    report, runtime = set(ReportServiceSettings.model_fields), set(RuntimeSettings.model_fields)
    security = set(SecuritySettings.model_fields)
    delivery = set(ReportSettings.model_fields)
    tooling = set(DeploySettings.model_fields) | set(LocalStackSettings.model_fields)
    tooling |= set(MonitoringSettings.model_fields)
    assert not task & (security | delivery | tooling)
    assert security <= ingest and not ingest & (delivery | tooling)
    assert delivery <= report and not report & (security | tooling)
    assert not runtime & tooling
    assert set(Settings.model_fields) == runtime | tooling


def test_a_service_reads_the_same_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("AIEXEC_MAX_BODY_BYTES", "1000")
    monkeypatch.setenv("AIEXEC_API_KEYS_REQUIRED", "true")
    task, ingest = TaskSettings(), IngestSettings()
    assert task.provider_configured("openai") and task.max_body_bytes == 1000
    assert ingest.api_keys_required and ingest.max_body_bytes == 1000
