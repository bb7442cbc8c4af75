"""Conversations and structured output on each provider's wire, through its real SDK against
the simulator (issue 15). How each adapter maps file parts: test_<provider>.py."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from infra.settings import Settings
from infra.simulator import SimulatorClient
from shared.providers.base import (
    CompletionRequest,
    ErrorKind,
    ProviderError,
    Turn,
)
from shared.providers.registry import get_provider, known_providers
from shared.structured_output import parse_answer

MakeSettings = Callable[..., Settings]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "year": {"type": ["integer", "null"]},
        "when": {"type": "string", "format": "date"},
        "kind": {"enum": ["book", "film"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "author": {"$ref": "#/$defs/Person"},
    },
    "required": ["title", "year", "when", "kind", "tags", "author"],
    "additionalProperties": False,
    "$defs": {
        "Person": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": False,
        }
    },
}
TURNS = (
    Turn("user", ("What is the CAP theorem?",)),
    Turn("assistant", ("Consistency, availability, partition tolerance.",)),
    Turn("user", ("Give an example.", " Briefly.")),
)


@pytest.fixture(params=known_providers())
def name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def complete(name: str, settings: Settings, **fields: Any) -> Any:
    provider = get_provider(name, settings)
    return provider.complete(
        CompletionRequest(prompt=fields.pop("prompt", ""), model=provider.default_model(), **fields)
    )


def test_a_conversation_reaches_the_provider_whole(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    result = complete(name, make_settings(sim.url), turns=TURNS, system="Be brief.")
    texts = ["What is the CAP theorem?", "Consistency, availability, partition tolerance."]
    joined = "\n".join([*texts, "Give an example. Briefly."])
    # The simulator counts every turn's text (and the system text) as prompt tokens.
    assert result.prompt_tokens == math.ceil(len(joined) / 4) + math.ceil(len("Be brief.") / 4)
    assert "What is the CAP theorem?" in result.text


def test_a_structured_answer_follows_the_schema(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    result = complete(name, make_settings(sim.url), prompt="A book", response_schema=SCHEMA)
    value, problem = parse_answer(result.text, SCHEMA)
    assert problem is None, result.text
    assert value["kind"] == "book" and value["when"] == "2026-01-01"
    assert value["author"]["name"].startswith("sim-")
    schema_tokens = math.ceil(len(json.dumps(SCHEMA)) / 4)
    assert result.prompt_tokens == math.ceil(len("A book") / 4) + schema_tokens


def test_the_invalid_json_fault_answers_what_does_not_follow_the_schema(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    sim.set_fault(name, "invalid-json", count=1)
    settings = make_settings(sim.url)
    first = complete(name, settings, prompt="A book", response_schema=SCHEMA)
    assert parse_answer(first.text, SCHEMA)[1] is not None
    second = complete(name, settings, prompt="A book", response_schema=SCHEMA)
    assert parse_answer(second.text, SCHEMA)[1] is None  # the fault affected one call


def test_a_schema_outside_the_subset_is_refused_by_the_provider(
    name: str, sim: SimulatorClient, make_settings: MakeSettings
) -> None:
    loose = {"type": "object", "properties": {"x": {"type": "string"}}}
    with pytest.raises(ProviderError) as caught:
        complete(name, make_settings(sim.url), prompt="x", response_schema=loose)
    assert (caught.value.kind, caught.value.status) == (ErrorKind.INVALID_TASK, 400)
