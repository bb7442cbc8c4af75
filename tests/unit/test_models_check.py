"""`aiexec models check` decisions, with the provider's answer given (the live check against the
simulator's model lists is in tests/providers/test_models_check_live.py)."""

from __future__ import annotations

from datetime import date

import pytest

from aiexec.cli import models as models_cli
from aiexec.cli.provider_models import ProviderView
from infra.settings import Settings
from shared.catalog import catalog
from shared.model_lifecycle import ConfiguredModel, configured_models, warnings

TODAY = date(2026, 11, 29)


def configured(provider: str, model: str) -> ConfiguredModel:
    return ConfiguredModel(provider, model, "default", catalog().status(provider, model, TODAY))


def test_current_listed_model_has_no_problem() -> None:
    model = configured("openai", "gpt-6.1-terra")
    assert models_cli.problems_of(model, ProviderView(True), TODAY, 60) == ()


def test_a_model_the_provider_does_not_list_is_a_problem() -> None:
    model = configured("openai", "gpt-6.1-terra")
    [problem] = models_cli.problems_of(model, ProviderView(False), TODAY, 60)
    assert "does not list 'gpt-6.1-terra'" in problem


def test_a_shutdown_the_provider_announces_but_the_catalog_lacks_is_a_problem() -> None:
    model = configured("openai", "gpt-6.1-terra")
    view = ProviderView(True, date(2027, 1, 10))
    [problem] = models_cli.problems_of(model, view, TODAY, 60)
    assert "2027-01-10" in problem and "models.json" in problem
    far = ProviderView(True, date(2028, 1, 1))
    assert models_cli.problems_of(model, far, TODAY, 60) == ()


@pytest.mark.parametrize(
    ("model", "words"),
    [("gpt-5", "shuts down on 2026-12-11"), ("gpt-4o-minii", "not in the model catalog")],
)
def test_catalog_problems_without_asking_the_provider(model: str, words: str) -> None:
    [problem] = models_cli.problems_of(configured("openai", model), None, TODAY, 60)
    assert words in problem


def test_offline_check_of_the_defaults_is_clean() -> None:
    checked = models_cli.check(Settings(), offline=True, today=TODAY)
    assert checked and all(not c.problems for c in checked)
    assert {c.configured.provider for c in checked} == {"openai", "vertex"}


def test_every_configured_model_is_checked_once_with_where_it_is_set() -> None:
    settings = Settings(
        openai_model="gpt-6.1-terra",
        openai_models_by_type={"code": "gpt-5"},
        openai_fallback_model="gpt-6-luna",
    )
    found = {
        (m.model, m.where) for m in configured_models(settings, TODAY) if m.provider == "openai"
    }
    assert ("gpt-5", "task type code") in found and ("gpt-6-luna", "fallback") in found
    [warning] = [w for w in warnings(settings, TODAY) if "gpt-5" in w]
    assert "configured as task type code" in warning
