"""One client cannot reach another's tasks or budget (issue 13, findings 5-7), on real ingest
servers with API keys required: atomic budget reservations, per-client task id namespaces, and
the Pub/Sub door's client identity."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.budget_math import reservation_nusd
from shared.schemas import TaskRequest
from tests.security.conftest import Security, bearer

REQUEST: dict[str, Any] = {"task_description": "hi tenancy", "max_output_tokens": 20}
WAIT_S = 30.0
IDS = 4  # distinct task ids raced
COPIES = 20  # concurrent submissions of each


def _post(url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/tasks", json=body, headers=bearer(key), timeout=60, trust_env=False)


def _get(url: str, key: str, task_id: str) -> httpx.Response:
    return httpx.get(f"{url}/tasks/{task_id}", headers=bearer(key), timeout=30, trust_env=False)


def _each(security: Security, body: dict[str, Any] = REQUEST) -> int:
    request = TaskRequest.model_validate(body)
    return reservation_nusd(security.settings, request, list(security.settings.providers))


def _budget_key(security: Security, budget_nusd: int) -> tuple[str, str]:
    return security.key(
        "tenancy", rate="10000/s", burst=10000, monthly_budget_usd=budget_nusd / 1e9
    )


def _reservation(security: Security, doc_id: str) -> dict[str, Any] | None:
    snap = security.budgets.reservation_ref(doc_id).get()
    return snap.to_dict() if snap.exists else None


def _until(check: Any, deadline_s: float = WAIT_S) -> Any:
    """`check()` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    return check()


# --- 5. Atomic reservation --------------------------------------------------------------


def test_concurrent_identical_submissions_reserve_exactly_once_per_task(
    security: Security,
) -> None:
    """The attack: many concurrent POSTs of one task_id, on both instances; before, a loser
    released the reservation the winner's task needed (4-6 of 60 tasks ran uncounted)."""
    each = _each(security)
    key, client_id = _budget_key(security, 1000 * each)
    ids = [f"race-{uuid.uuid4().hex[:12]}-{n}" for n in range(IDS)]
    jobs = [
        (url, task_id)
        for task_id in ids
        for url in [security.a.url, security.b.url] * (COPIES // 2)
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        responses = list(
            pool.map(lambda job: _post(job[0], key, REQUEST | {"task_id": job[1]}), jobs)
        )
    assert {r.status_code for r in responses} <= {200, 202}, [r.text for r in responses]

    committed, open_reservations = security.budgets.committed(client_id)
    print(
        f"\n{len(jobs)} concurrent submissions of {IDS} ids: {open_reservations} reservations, "
        f"committed {committed} nUSD = {committed / each:g} tasks' worth"
    )
    assert open_reservations == IDS  # one per task created, none uncounted, none twice
    assert committed == IDS * each
    for task_id in ids:
        task = security.task(client_id, task_id)
        assert task is not None and task["client_id"] == client_id
        reservation = _reservation(security, security.doc(client_id, task_id))
        assert reservation is not None and reservation["amount_nusd"] == each


def test_concurrent_different_bodies_under_one_id_reserve_once(security: Security) -> None:
    task_id = f"race-diff-{uuid.uuid4().hex[:12]}"
    bodies = [REQUEST | {"task_id": task_id, "task_description": f"v{n:02d}"} for n in range(16)]
    each = _each(security, bodies[0])  # the same for every body: prompts of one length
    key, client_id = _budget_key(security, 1000 * each)
    urls = [security.a.url, security.b.url] * 8
    with ThreadPoolExecutor(16) as pool:
        responses = list(
            pool.map(lambda pair: _post(pair[0], key, pair[1]), zip(urls, bodies, strict=True))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(202) == 1 and set(statuses[1:]) == {409}, statuses
    assert security.budgets.committed(client_id) == (each, 1)


def test_a_rejected_id_taken_over_by_a_task_is_reserved_with_it(security: Security) -> None:
    """A rejection (a refused Pub/Sub message) is replaced by the valid task in the same commit
    as its reservation."""
    each = _each(security)
    key, client_id = _budget_key(security, 1000 * each)
    task_id = f"was-rejected-{uuid.uuid4().hex[:12]}"
    security.publish(security.topic, {"task_id": task_id}, client_id=client_id)  # no prompt
    rejected = _until(lambda: security.task(client_id, task_id))
    assert rejected["status"] == "rejected" and rejected["error"]["code"] == "missing_field"

    response = _post(security.a.url, key, REQUEST | {"task_id": task_id})
    assert response.status_code == 202, response.text
    task = security.task(client_id, task_id)
    assert task is not None and task["status"] != "rejected"
    assert task["request"]["task_description"] == REQUEST["task_description"]
    assert "field" not in (task.get("error") or {})  # the rejection's fields are gone
    assert security.budgets.committed(client_id) == (each, 1)


# --- 6. Per-client id namespaces ----------------------------------------------------------


def test_two_clients_use_the_same_task_id_independently(security: Security) -> None:
    """The attack, before: client B's existing id answered 409 to A, so ids leaked and could
    be claimed. Now both are accepted, run separately, and each reads only its own."""
    key_a, client_a = security.key("tenant-a")
    key_b, client_b = security.key("tenant-b")
    task_id = f"x-{uuid.uuid4().hex[:8]}"
    first = _post(security.a.url, key_a, {"task_description": "I am A", "task_id": task_id})
    second = _post(security.b.url, key_b, {"task_description": "I am B", "task_id": task_id})
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert first.json()["task_id"] == second.json()["task_id"] == task_id

    done_a = security.wait(client_a, task_id, WAIT_S)
    done_b = security.wait(client_b, task_id, WAIT_S)
    assert done_a is not None and done_b is not None
    assert (done_a["status"], done_b["status"]) == ("succeeded", "succeeded")
    assert done_a["client_id"] == client_a and done_b["client_id"] == client_b
    assert done_a["doc_id"] == f"{client_a}~{task_id}" and done_a["task_id"] == task_id
    # Separate calls, separately counted: usage/{doc_id}-{n}.
    usage_a = done_a["attempts"][-1]["usage_ids"]
    usage_b = done_b["attempts"][-1]["usage_ids"]
    assert usage_a == [f"{client_a}~{task_id}-1"] and usage_b == [f"{client_b}~{task_id}-1"]

    read_a, read_b = _get(security.a.url, key_a, task_id), _get(security.a.url, key_b, task_id)
    assert read_a.status_code == read_b.status_code == 200
    assert read_a.json()["request"]["task_description"] == "I am A"
    assert read_b.json()["request"]["task_description"] == "I am B"
    assert read_a.json()["client_id"] == client_a and read_b.json()["client_id"] == client_b


def test_a_predictable_id_claimed_by_another_client_does_not_block_its_owner(
    security: Security,
) -> None:
    key_owner, owner = security.key("owner")
    key_squatter, _squatter = security.key("squatter")
    predictable = f"invoice-2026-12-01-{uuid.uuid4().hex[:6]}"
    claimed = _post(
        security.b.url, key_squatter, {"task_description": "mine now", "task_id": predictable}
    )
    assert claimed.status_code == 202
    # Before the owner submits, the id is invisible to it: exactly like one nobody used.
    unseen = _get(security.a.url, key_owner, predictable)
    nowhere = _get(security.a.url, key_owner, f"never-{predictable}")
    assert unseen.status_code == nowhere.status_code == 404
    assert unseen.json()["error"]["code"] == nowhere.json()["error"]["code"] == "not_found"

    own = _post(
        security.a.url, key_owner, {"task_description": "the invoice", "task_id": predictable}
    )
    assert own.status_code == 202, own.text
    task = security.wait(owner, predictable, WAIT_S)
    assert task is not None and task["client_id"] == owner and task["status"] == "succeeded"
    assert _get(security.b.url, key_owner, predictable).json()["request"]["task_description"] == (
        "the invoice"
    )


def test_a_document_id_in_the_path_reads_nothing(security: Security) -> None:
    """`GET /tasks/{other}~{id}` cannot name another client's document: `~` is no task id."""
    key_a, client_a = security.key("path-a")
    key_b, _ = security.key("path-b")
    task_id = f"doc-{uuid.uuid4().hex[:8]}"
    assert _post(security.a.url, key_a, REQUEST | {"task_id": task_id}).status_code == 202
    response = _get(security.a.url, key_b, security.doc(client_a, task_id))
    assert response.status_code == 404


# --- 7. The Pub/Sub door's client identity ------------------------------------------------


def _logged_rejections(security: Security, task_id: str) -> list[dict[str, Any]]:
    lines = []
    for line in security.events.log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("task_id") == task_id and "rejected a message" in str(entry.get("message")):
            lines.append(entry)
    return lines


@pytest.mark.parametrize(
    "claimed",
    ["evil\nname", "x" * 1000, "a..b", "", "two words", "acme~x", "-dash", "ünïcode"],
    ids=["newline", "long", "dots", "empty", "space", "tilde", "leading-dash", "unicode"],
)
def test_an_invalid_client_attribute_is_rejected_and_acked(
    security: Security, claimed: str
) -> None:
    """The attack: publish to `tasks` naming a client no key could have (any length, control
    characters, the namespace separator). Now: a `rejected` document of the default Pub/Sub
    client with `invalid_client_id`, acked once (never redelivered), and no task."""
    task_id = f"bad-client-{uuid.uuid4().hex[:8]}"
    security.publish(security.topic, REQUEST | {"task_id": task_id}, client_id=claimed)
    rejected = _until(lambda: security.task("pubsub", task_id))
    assert rejected is not None, "no rejection recorded"
    assert rejected["status"] == "rejected"
    assert rejected["client_id"] == "pubsub"
    assert rejected["error"]["code"] == "invalid_client_id"
    assert rejected["error"]["field"] == "client_id"
    assert claimed not in rejected["error"]["message"] or not claimed  # never echoed
    time.sleep(1.0)  # a nacked push would be redelivered within a second on the emulator
    logged = _logged_rejections(security, task_id)
    assert len(logged) == 1, logged
    assert logged[0]["code"] == "invalid_client_id" and logged[0]["recorded"] is True


def test_a_valid_client_attribute_names_the_client(security: Security) -> None:
    key, client_id = security.key("attr")
    task_id = f"attr-{uuid.uuid4().hex[:8]}"
    security.publish(security.topic, REQUEST | {"task_id": task_id}, client_id=client_id)
    task = security.wait(client_id, task_id, WAIT_S)
    assert task is not None and task["status"] == "succeeded", task
    assert task["client_id"] == client_id
    assert _get(security.a.url, key, task_id).status_code == 200


def test_a_clients_own_topic_carries_only_that_clients_tasks(security: Security) -> None:
    """With AIEXEC_PUBSUB_CLIENT_TOPICS, the topic (publisher IAM), not the attribute, says
    who publishes: no attribute is that client; another client's name is refused."""
    owner = security.topic_client
    key, _record = security.keys.create(owner, rate="100/s")
    plain = f"own-{uuid.uuid4().hex[:8]}"
    security.publish(security.client_topic, REQUEST | {"task_id": plain})
    task = security.wait(owner, plain, WAIT_S)
    assert task is not None and task["client_id"] == owner and task["status"] == "succeeded"
    assert _get(security.b.url, key, plain).status_code == 200

    _victim_key, victim = security.key("victim")
    spoof = f"own-spoof-{uuid.uuid4().hex[:8]}"
    security.publish(security.client_topic, REQUEST | {"task_id": spoof}, client_id=victim)
    rejected = _until(lambda: security.task(owner, spoof))
    assert rejected["status"] == "rejected"
    assert rejected["error"]["code"] == "invalid_client_id"
    assert security.task(victim, spoof) is None
