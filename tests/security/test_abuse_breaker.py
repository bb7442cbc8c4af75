"""Issue 13, finding 1 (breaker poisoning), on the live stack in keys-required mode.

One client sends many tasks that fail for reasons of their own requests: an invalid request
(400), a prompt the safety filter blocks, a prompt too long, a model the provider does not have.
Every failure is recorded on its task and none counts for the circuit breaker: no circuit
opens, and another client's normal task afterwards is answered by the first provider of its
chain at the first call. Ingest's model allowlist refuses `"nobody/x"` before any call; the
breaker must hold without it too (defence in depth: a message a trusted publisher put straight
on a provider's queue, a model an operator list allows), so those tasks are also injected past
ingest.
"""

from __future__ import annotations

import time
from typing import Any

from infra.simulator.client import SimulatorClient
from shared import fallback
from shared.bus import Bus
from shared.schemas import TaskMessage
from tests.security.conftest import Security, post_task

WAIT_S = 60.0
ROUNDS = 3  # x 5 kinds = 15 refused tasks on one provider; 5 counted failures open a circuit
GONE_SNAPSHOT = "gemini-3.8-flash-999"  # allowed (a dated snapshot), but the provider has none
ABUSE: dict[str, dict[str, Any]] = {
    "invalid_request": {"task_description": "[sim:invalid] please"},
    "blocked": {"task_description": "[sim:blocked] something nasty"},
    "context_length_exceeded": {"task_description": "[sim:context-too-long] a huge document"},
    "model_unavailable": {"task_description": "hi", "model": {"vertex": GONE_SNAPSHOT}},
}
PAST_INGEST = {"task_description": "hi", "model": {"vertex": "nobody/x"}}  # a 404: not_found


def _circuit(security: Security, provider: str) -> dict[str, Any]:
    circuits = security.store.client.collection(security.settings.collection_circuits)
    return circuits.document(provider).get().to_dict() or {}


def _wait(security: Security, client_id: str | None, task_id: str) -> dict[str, Any] | None:
    """The task once terminal: a client's HTTP task by its document id on these servers
    (`client~task_id`), a task injected past ingest by its own id (client_id None)."""
    doc = security.doc(client_id, task_id) if client_id else task_id
    return security.store.wait_for_terminal(doc, WAIT_S)


def _first_error(task: dict[str, Any]) -> tuple[str, str | None]:
    first = task["attempts"][0]
    return first["provider"], (first.get("error") or {}).get("code")


def _inject(security: Security, client_id: str, request: dict[str, Any]) -> str:
    """A task that never went through ingest: created, and its pointer put on the queue of the
    chain's first provider, as a publisher with access to that topic could."""
    task_id = f"past-ingest-{time.time_ns()}"
    chain = ["vertex"]
    security.store.commit_creation(security.store.creation(task_id, client_id, request, chain))
    message = TaskMessage(task_id=task_id, chain=chain, hop=0)
    topic = fallback.topic_for_hop(security.settings, chain, 0)
    Bus(security.settings).publish(topic, message.model_dump_json().encode())
    return task_id


def test_a_clients_refused_requests_open_no_circuit_for_anyone(security: Security) -> None:
    abuser, abuser_id = security.key("abuser", rate="1000/s", burst=1000)
    victim, victim_id = security.key("victim")
    sim = SimulatorClient(security.stack.simulator_url)
    sim.set_model("vertex", GONE_SNAPSHOT, retired=True)
    sim.set_model("vertex", "gemini-3.5-flash", retired=True)  # the fallback model: gone too

    refused = post_task(security.a.url, abuser, PAST_INGEST)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "model_not_allowed")

    sent: dict[tuple[str | None, str], str] = {}
    for _ in range(ROUNDS):
        for expected, body in ABUSE.items():
            response = post_task(security.a.url, abuser, body | {"providers": ["vertex"]})
            assert response.status_code == 202, response.text
            sent[abuser_id, response.json()["task_id"]] = expected
        sent[None, _inject(security, abuser_id, PAST_INGEST)] = "not_found"

    for (client_id, task_id), expected in sent.items():
        task = _wait(security, client_id, task_id)
        assert task is not None and task["status"] == "failed", (task_id, task)
        assert _first_error(task) == ("vertex", expected), task["attempts"]  # recorded ...
    circuit = _circuit(security, "vertex")  # ... and never counted against the provider
    assert circuit.get("state", "closed") == "closed" and circuit.get("failures", 0) == 0
    assert sim.stats()["vertex"]["calls"] >= 5 * ROUNDS  # the provider really was called

    response = post_task(
        security.a.url, victim, {"task_description": "a normal task", "providers": ["vertex"]}
    )
    assert response.status_code == 202, response.text
    task = _wait(security, victim_id, response.json()["task_id"])
    assert task is not None and task["status"] == "succeeded", task
    assert task["result"]["provider"] == "vertex"
    assert [(a["provider"], a["outcome"], a["calls"]) for a in task["attempts"]] == [
        ("vertex", "ok", 1)
    ]


def test_provider_failures_still_open_the_circuit(security: Security) -> None:
    """The other side of the rule: an outage is the provider's, and still counted."""
    client, client_id = security.key("outage", rate="1000/s", burst=1000)
    SimulatorClient(security.stack.simulator_url).set_fault("vertex", "down")
    task_ids = []
    for _ in range(3):  # 3 calls each: 5 failures open the circuit within two tasks
        response = post_task(
            security.a.url, client, {"task_description": "x", "providers": ["vertex", "openai"]}
        )
        assert response.status_code == 202, response.text
        task_ids.append(response.json()["task_id"])
    for task_id in task_ids:
        task = _wait(security, client_id, task_id)
        assert task is not None and task["result"]["provider"] == "openai", task
    assert _circuit(security, "vertex")["state"] == "open"
