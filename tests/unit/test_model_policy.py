"""The model allowlist (shared/model_policy.py): which names a request may give `model`, the
error that names the field, the setting that extends it, and the served OpenAPI that says the
same thing."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from pydantic import ValidationError

from infra.settings import Settings
from shared.catalog import catalog
from shared.ingest import Ingest
from shared.model_policy import (
    MODEL_NOT_ALLOWED,
    allowed_models,
    check_models,
    is_allowed,
    snapshot_pattern,
)
from shared.openapi import render_openapi
from shared.request_guard import RequestProblemError

TODAY = date(2026, 11, 29)
SETTINGS = Settings.model_construct()
REFUSED = [
    ("vertex", "nobody/x"),  # the breaker-poisoning name of the abuse review
    ("vertex", "projects/p/locations/us-central1/endpoints/1234567890"),
    ("vertex", "publishers/google/models/gemini-3.8-flash"),
    ("vertex", "gemini-3.8-flash\n"),
    ("vertex", "gemini-3.8-flash\x1b[2J"),
    ("openai", "gpt-6.1-terra\u202e"),
    ("openai", "gpt-4o-minii"),  # a typo is not gpt-4o-mini
    ("openai", "GPT-6.1-TERRA"),
    ("openai", "x" * 128),
    ("openai", "gpt-4.1-nano"),  # shut down 2026-10-23
    ("vertex", "gemini-2.0-flash"),  # shut down 2026-02-05
    ("openai", "gemini-3.8-flash"),  # another provider's model
    ("openai", "gpt-6.1-terra-2026-13"),  # not the dated-snapshot pattern
    ("openai", "nobody-2026-10-26"),  # the pattern, but no catalog model's snapshot
]
ALLOWED = [
    ("openai", "gpt-6.1-terra"),
    ("openai", "gpt-6.1-terra-2026-10-26"),  # dated snapshot
    ("openai", "gpt-5"),  # deprecated, shuts down 2026-12-11: still served
    ("vertex", "gemini-3.8-flash"),
    ("vertex", "gemini-3.5-flash-001"),
]


@pytest.mark.parametrize(("provider", "name"), REFUSED)
def test_names_outside_the_allowlist_are_refused(provider: str, name: str) -> None:
    assert not is_allowed(SETTINGS, provider, name, TODAY)
    with pytest.raises(RequestProblemError) as refused:
        check_models(SETTINGS, {provider: name}, TODAY)
    problem = refused.value.problem
    assert refused.value.status == 400
    assert (problem.code, problem.field) == (MODEL_NOT_ALLOWED, f"model.{provider}")
    assert name not in problem.message  # never echoed
    assert problem.message.startswith(f"model.{provider}: ")


@pytest.mark.parametrize(("provider", "name"), ALLOWED)
def test_current_catalog_models_and_their_snapshots_are_allowed(provider: str, name: str) -> None:
    assert is_allowed(SETTINGS, provider, name, TODAY)
    check_models(SETTINGS, {provider: name}, TODAY)


def test_a_model_retires_on_its_shutdown_date() -> None:
    shutdown = catalog().models["gpt-5"].shutdown_date
    assert shutdown is not None
    assert is_allowed(SETTINGS, "openai", "gpt-5", date.fromordinal(shutdown.toordinal() - 1))
    assert not is_allowed(SETTINGS, "openai", "gpt-5", shutdown)
    assert "gpt-5" not in allowed_models(SETTINGS, "openai", shutdown)


def test_configured_and_operator_listed_models_are_allowed() -> None:
    settings = Settings(
        openai_model="my-private-default",
        allowed_models="openai:ft:gpt-6-luna:acme::abc123,"
        "vertex:projects/p/locations/us-central1/endpoints/42",
    )
    for provider, name in [
        ("openai", "my-private-default"),
        ("openai", "ft:gpt-6-luna:acme::abc123"),
        ("vertex", "projects/p/locations/us-central1/endpoints/42"),
    ]:
        assert is_allowed(settings, provider, name, TODAY)
        assert name in allowed_models(settings, provider, TODAY)
    # exact names only: another endpoint of the same project is not
    assert not is_allowed(settings, "vertex", "projects/p/locations/us-central1/endpoints/43")
    assert not is_allowed(settings, "vertex", "ft:gpt-6-luna:acme::abc123")  # openai's entry


@pytest.mark.parametrize(
    "entry",
    ["gpt-6-luna", "openai:", "OpenAI:x", "openai:bad name", "openai:a\tb", "x:" + "a" * 129],
)
def test_the_allowed_models_setting_is_validated(entry: str) -> None:
    with pytest.raises(ValidationError, match="provider:model"):
        Settings(allowed_models=entry)


def test_providers_not_configured_are_left_to_the_chain_check() -> None:
    check_models(SETTINGS, {"nobody": "x"}, TODAY)  # ingest then says "unknown provider(s)"


def test_ingest_parse_refuses_a_model_naming_the_field() -> None:
    ingest = Ingest(SETTINGS, store=None, bus=None, budgets=object())  # type: ignore[arg-type]
    body = json.dumps({"task_description": "x", "model": {"vertex": "nobody/x"}}).encode()
    with pytest.raises(RequestProblemError) as refused:
        ingest.parse(body)
    assert (refused.value.status, refused.value.problem.field) == (400, "model.vertex")
    over_long = json.dumps({"task_description": "x", "model": {"vertex": "g" * 129}}).encode()
    with pytest.raises(RequestProblemError) as too_long:
        ingest.parse(over_long)
    assert too_long.value.problem.field == "model.vertex"
    allowed = json.dumps({"task_description": "x", "model": {"vertex": "gemini-4-argon"}})
    assert ingest.parse(allowed.encode()).model == {"vertex": "gemini-4-argon"}


def test_the_served_document_lists_exactly_the_allowed_names() -> None:
    """The OpenAPI served on a day describes the rule the server applies that day, name by name
    (the file, which must not depend on the date, says it in words)."""
    document = render_openapi(SETTINGS, TODAY)
    model = document["components"]["schemas"]["TaskRequest"]["properties"]["model"]
    assert set(model["properties"]) == set(SETTINGS.providers)
    file_model = render_openapi(SETTINGS)["components"]["schemas"]["TaskRequest"]["properties"]
    assert "properties" not in file_model["model"]
    for provider in SETTINGS.providers:
        schema = model["properties"][provider]
        exact, snapshots = schema["anyOf"]
        assert exact["enum"] == allowed_models(SETTINGS, provider, TODAY)
        assert snapshots["pattern"] == snapshot_pattern(provider, TODAY)
        for name in [n for p, n in ALLOWED + REFUSED if p == provider]:
            documented = name in exact["enum"] or re.search(snapshots["pattern"], name)
            assert bool(documented) == is_allowed(SETTINGS, provider, name, TODAY), name
