"""The simulator's model lifecycle through the real SDKs: served, unknown, retired, and changed at
run time through the control API and `aiexec sim model`."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from google.oauth2.credentials import Credentials

from infra.simulator import SimulatorClient
from infra.simulator.faults import FaultSpecError
from infra.simulator.models import ModelRegistry, utc_today
from shared.catalog import Lifecycle, catalog
from shared.providers.registry import known_providers
from tests.providers.sim_cli import run_cli

PROJECT, LOCATION = "demo", "us-central1"
USER = [{"role": "user", "content": "hi"}]
# Shut down before 2026-11-29 in the catalog: answers 404 from then on.
RETIRED = {"openai": "gpt-4.1-nano", "vertex": "gemini-2.0-flash"}


def openai_sdk(sim: SimulatorClient) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="sim", max_retries=0)


def vertex_sdk(sim: SimulatorClient) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=Credentials(token="sim"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(
            base_url=sim.url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )


def served_in_catalog(provider: str) -> dict[str, date | None]:
    """What the catalog says the provider serves today: id -> shutdown date."""
    today, known = utc_today(), catalog()
    return {
        name: info.shutdown_date
        for name, info in known.for_provider(provider).items()
        if known.status(provider, name, today).lifecycle is not Lifecycle.RETIRED
    }


def chat_fails(client: openai.OpenAI, model: str) -> openai.NotFoundError:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
    return info.value


def generate_fails(client: genai.Client, model: str) -> genai_errors.ClientError:
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model=model, contents="hi")
    return info.value


# --- refused models ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-nonexistent", "gpt-6.1-terraa", RETIRED["openai"]])
def test_openai_refuses_unknown_and_retired_models_like_openai(
    sim: SimulatorClient, model: str
) -> None:
    error = chat_fails(openai_sdk(sim), model)

    assert (error.status_code, error.code, error.type) == (
        404,
        "model_not_found",
        "invalid_request_error",
    )
    assert error.body == {
        "message": f"The model `{model}` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    assert sim.stats()["openai"] == {"calls": 1, "ok": 0, "errors": 1}


@pytest.mark.parametrize("model", ["gemini-nonexistent", RETIRED["vertex"]])
def test_vertex_refuses_unknown_and_retired_models_like_vertex(
    sim: SimulatorClient, model: str
) -> None:
    client = vertex_sdk(sim)

    call = generate_fails(client, model)
    with pytest.raises(genai_errors.ClientError) as lookup:
        client.models.get(model=model)

    resource = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{model}"
    assert (call.code, call.status) == (404, "NOT_FOUND")
    assert call.message is not None
    assert call.message.startswith(
        f"Publisher Model `{resource}` was not found or your project does not have access to it."
    )
    assert (lookup.value.code, lookup.value.status) == (404, "NOT_FOUND")
    assert f"`publishers/google/models/{model}`" in str(lookup.value.message)
    assert sim.stats()["vertex"] == {"calls": 1, "ok": 0, "errors": 1}  # lookups are not calls


def test_dated_snapshots_of_served_models_are_served(sim: SimulatorClient) -> None:
    reply = openai_sdk(sim).chat.completions.create(
        model="gpt-6.1-terra-2026-10-26",
        messages=USER,  # type: ignore[arg-type]
    )
    vertex = vertex_sdk(sim)  # held: a google-genai client closes its connections when collected
    answer = vertex.models.generate_content(model="gemini-3.5-flash-001", contents="hi")

    assert reply.model == "gpt-6.1-terra-2026-10-26"
    assert answer.model_version == "gemini-3.5-flash-001"
    assert vertex.models.get(model="gemini-3.5-flash-001").version == "001"


# --- model lists ------------------------------------------------------------------------------


def test_openai_models_list_is_the_catalog_as_of_today(sim: SimulatorClient) -> None:
    client = openai_sdk(sim)

    listed = {model.id: model for model in client.models.list()}

    expected = served_in_catalog("openai")
    assert set(listed) == set(expected)
    assert RETIRED["openai"] not in listed
    for name, model in listed.items():
        assert (model.object, model.owned_by) == ("model", "system")
        assert isinstance(model.created, int)
        shutdown = expected[name]
        assert model.shutdown_date == (shutdown.isoformat() if shutdown else None)
    one = client.models.retrieve("gpt-6.1-terra")
    assert (one.id, one.object) == ("gpt-6.1-terra", "model")
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-nonexistent")
    assert missing.value.code == "model_not_found"


def test_vertex_publisher_models_are_the_catalog_as_of_today(sim: SimulatorClient) -> None:
    client = vertex_sdk(sim)

    model = client.models.get(model="gemini-3.8-flash")
    listed = [str(m.name) for m in client.models.list()]
    raw = httpx.get(f"{sim.url}/v1beta1/publishers/google/models/gemini-3.8-flash").json()

    assert model.name == "publishers/google/models/gemini-3.8-flash"
    assert model.version == "default"
    assert sorted(listed) == sorted(
        f"publishers/google/models/{name}" for name in served_in_catalog("vertex")
    )
    assert raw["launchStage"] == "GA" and raw["openSourceCategory"] == "PROPRIETARY"
    assert "shutdownDate" not in raw  # none announced
    assert httpx.post(f"{sim.url}/v1/models").status_code == 405


# --- changed at run time ----------------------------------------------------------------------


def test_a_model_retired_at_run_time_answers_404_until_reset(sim: SimulatorClient) -> None:
    client = openai_sdk(sim)

    view = sim.set_model("openai", "gpt-6.1-terra", retired=True)

    assert (view["served"], view["source"]) == (False, "override")
    assert chat_fails(client, "gpt-6.1-terra").code == "model_not_found"
    assert chat_fails(client, "gpt-6.1-terra-2026-10-26").code == "model_not_found"
    assert "gpt-6.1-terra" not in {m.id for m in client.models.list()}
    assert sim.models()["overrides"]["openai"]["gpt-6.1-terra"]["served"] is False
    sim.set_model("openai", "gpt-6.1-terra", reset=True)
    assert client.chat.completions.create(model="gpt-6.1-terra", messages=USER)  # type: ignore[arg-type]
    vertex = vertex_sdk(sim)
    sim.set_model("vertex", "gemini-3.8-flash", retired=True)
    assert generate_fails(vertex, "gemini-3.8-flash").code == 404
    sim.reset()  # forgets every override
    assert vertex.models.generate_content(model="gemini-3.8-flash", contents="hi")


def test_shutdown_dates_set_at_run_time(sim: SimulatorClient) -> None:
    client = openai_sdk(sim)
    tomorrow = (utc_today() + timedelta(days=1)).isoformat()

    sim.set_model("openai", "gpt-6.2-sol", shutdown_date=tomorrow)
    listed = {m.id: m for m in client.models.list()}
    assert listed["gpt-6.2-sol"].shutdown_date == tomorrow
    sim.set_model("openai", "gpt-6.2-sol", shutdown_date=utc_today().isoformat())
    assert chat_fails(client, "gpt-6.2-sol").code == "model_not_found"  # shut down today
    # A model the catalog does not know, or has retired, is served once given no shutdown date.
    sim.set_model("openai", "gpt-7-preview", shutdown_date=None)
    sim.set_model("openai", RETIRED["openai"], shutdown_date=None)
    for model in ("gpt-7-preview", RETIRED["openai"]):
        reply = client.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
        assert reply.model == model
    assert "gpt-7-preview" in {m.id for m in client.models.list()}
    sim.set_model("vertex", "gemini-9-test", shutdown_date=tomorrow)
    raw = httpx.get(f"{sim.url}/v1beta1/publishers/google/models/gemini-9-test").json()
    assert raw["shutdownDate"] == tomorrow


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"shutdown_date": "29/11/2026"},
        {"retired": False},
        {"retired": True, "reset": True},
        {"colour": "red"},
        [],
    ],
)
def test_model_control_requests_are_validated(sim: SimulatorClient, body: object) -> None:
    response = httpx.post(f"{sim.url}/_sim/models/openai/gpt-6.1-terra", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert httpx.post(f"{sim.url}/_sim/models/mistral/x", json={"retired": True}).status_code == 400


def test_registry_rules_with_a_fixed_today() -> None:
    today = date(2026, 11, 29)
    registry = ModelRegistry(today=lambda: today)

    assert registry.served("openai", "gpt-4o")  # shuts down 2027-01-14
    assert not registry.served("openai", "gpt-4.1-nano")  # shut down 2026-10-23
    assert not registry.served("vertex", "gpt-6.1-terra")  # another provider's model
    assert ModelRegistry(today=lambda: date(2027, 1, 14)).served("openai", "gpt-4o") is False
    assert ModelRegistry(today=lambda: date(2027, 1, 13)).served("openai", "gpt-4o") is True
    view = registry.change("openai", "gpt-4o", {"retired": True})
    assert (view.served, view.shutdown_date) == (False, today)
    with pytest.raises(FaultSpecError):
        registry.change("openai", "gpt-4o", {"shutdown_date": "soon"})


# --- `aiexec sim model` -----------------------------------------------------------------------


def test_cli_round_trip_retire_serve_and_reset(
    sim: SimulatorClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*argv: str) -> tuple[int, str]:
        code = run_cli(monkeypatch, sim.url, "model", *argv)
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    code, out = cli("openai", "gpt-6.1-terra", "--retired")
    assert code == 0 and "gpt-6.1-terra: not served (404)" in out
    assert chat_fails(openai_sdk(sim), "gpt-6.1-terra").code == "model_not_found"

    code, out = cli("openai", "gpt-6.1-terra", "--shutdown-date", "none")
    assert code == 0 and "served, no shutdown date (set at run time)" in out
    code, out = cli("openai", "gpt-zz-unknown")
    assert code == 0 and "not served (404), no shutdown date (not in the catalog)" in out
    assert cli("openai", "gpt-zz-unknown", "--shutdown-date", "none")[0] == 0
    assert openai_sdk(sim).chat.completions.create(model="gpt-zz-unknown", messages=USER)  # type: ignore[arg-type]

    code, out = cli("vertex", "gemini-3.8-flash", "--shutdown-date", "2027-09-02", "--json")
    assert code == 0 and '"shutdown_date": "2027-09-02"' in out
    code, out = cli("openai", "gpt-6.1-terra", "--reset")
    assert code == 0 and "(as in the catalog)" in out
    assert cli("openai", "gpt-6.1-terra", "--shutdown-date", "tomorrow")[0] == 2
    assert sim.model("openai", "gpt-6.1-terra")["source"] == "catalog"

    assert run_cli(monkeypatch, sim.url, "status") == 0
    status = capsys.readouterr().out
    assert "model    vertex gemini-3.8-flash: served, shutdown 2027-09-02" in status
    assert "gpt-6.1-terra" not in status  # reset: nothing to show
    assert run_cli(monkeypatch, sim.url, "reset") == 0
    assert "models as in the catalog" in capsys.readouterr().out
    assert sim.models()["overrides"] == {name: {} for name in known_providers()}
