"""Model lifecycle on the real stack: a model retired at run time, the same provider's fallback
model, the hand-over when there is none, and a bad model that must not open the circuit.

The simulator's model overrides are undone by the autouse `healthy_providers` fixture (its reset
restores the catalog's view), so other tests sharing the stack see every model again.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.simulator import SimulatorClient
from tests.e2e.conftest import Pipeline, unique


@pytest.fixture
def sim(pipeline: Pipeline) -> SimulatorClient:
    return SimulatorClient(pipeline.stack.simulator_url)


def tried(task: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [
        (a["provider"], a["model"], a["outcome"], (a.get("error") or {}).get("code"))
        for a in task["attempts"]
    ]


def usage_documents(pipeline: Pipeline, task_id: str) -> list[dict[str, Any]]:
    usage = pipeline.store.client.collection(pipeline.settings.collection_usage)
    return [usage.document(doc_id).get().to_dict() or {} for doc_id in pipeline.usage_ids(task_id)]


def test_a_retired_model_gives_way_to_the_fallback_model_on_the_same_provider(
    pipeline: Pipeline, sim: SimulatorClient
) -> None:
    settings = pipeline.settings
    model = settings.models_by_type("openai")["creative"]
    spare = settings.fallback_model_for("openai", "creative")
    assert spare and spare != model
    sim.set_model("openai", model, retired=True)  # = `aiexec sim model openai <model> --retired`
    task_id = unique("retired-model")

    pipeline.post(
        "/tasks", {"task_description": "A haiku", "task_type": "creative", "task_id": task_id}
    )

    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert (task["result"]["provider"], task["result"]["model"]) == ("openai", spare)
    assert tried(task) == [
        ("openai", model, "provider_fatal", "model_unavailable"),
        ("openai", spare, "ok", None),
    ]
    refused, answered = usage_documents(pipeline, task_id)
    assert (refused["model"], refused["error_code"], refused["cost_usd"]) == (
        model,
        "model_unavailable",
        0.0,
    )
    assert answered["model"] == spare and answered["cost_usd"] > 0
    assert task["usage"]["cost_usd"] == answered["cost_usd"]


def test_without_a_fallback_model_the_task_goes_to_the_next_provider(
    pipeline: Pipeline, sim: SimulatorClient
) -> None:
    settings = pipeline.settings
    model = settings.models_by_type("openai")["general"]
    spare = settings.fallback_model_for("openai", "general")
    assert spare
    for gone in (model, spare):
        sim.set_model("openai", gone, retired=True)
    task_id = unique("no-model-left")

    pipeline.post(
        "/tasks", {"task_description": "Hello", "task_type": "general", "task_id": task_id}
    )

    task = pipeline.wait(task_id)
    assert (task["status"], task["result"]["provider"]) == ("succeeded", "vertex")
    assert tried(task) == [
        ("openai", model, "provider_fatal", "model_unavailable"),
        ("openai", spare, "provider_fatal", "model_unavailable"),
        ("vertex", settings.models_by_type("vertex")["general"], "ok", None),
    ]


def test_a_model_that_does_not_exist_does_not_open_the_circuit(
    pipeline: Pipeline, sim: SimulatorClient
) -> None:
    settings = pipeline.settings
    spare = settings.fallback_model_for("openai", None)
    assert spare
    sim.set_model("openai", spare, retired=True)  # every openai call below is a 404
    # A model ingest allows (a current catalog model: names outside the allowlist are refused
    # at ingest, tests/e2e/test_model_allowlist.py) that the provider says it does not have.
    gone = "gpt-6.1-sol"
    assert gone not in (spare, settings.openai_model)
    sim.set_model("openai", gone, retired=True)
    bad = {"openai": gone}
    task_ids = [unique(f"bad-model-{n}") for n in range(6)]
    for task_id in task_ids:
        sent = pipeline.post("/tasks", {"task_description": "x", "model": bad, "task_id": task_id})
        assert sent.status_code == 202, sent.text

    for task_id in task_ids:
        task = pipeline.wait(task_id)
        assert (task["status"], task["result"]["provider"]) == ("succeeded", "vertex")
        assert [code for *_, code in tried(task)][:2] == ["model_unavailable"] * 2

    assert sim.stats()["openai"]["errors"] >= 2 * len(task_ids)  # 12 refusals: 5 would open it
    circuit = (
        pipeline.store.client.collection(settings.collection_circuits).document("openai").get()
    )
    assert (circuit.to_dict() or {}).get("state", "closed") == "closed"
    sim.reset()
    after = unique("after-bad-models")
    pipeline.post("/tasks", {"task_description": "still openai?", "task_id": after})
    task = pipeline.wait(after)
    assert task["result"]["provider"] == "openai"
    assert [(a["provider"], a["outcome"]) for a in task["attempts"]] == [("openai", "ok")]
