"""Monthly budgets on real ingest servers: concurrent submissions near the limit never commit
more than the budget (the bound in shared/budget.py), settlement, and a clear 402."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from shared.budget_math import NANOS_PER_USD, reservation_nusd, to_nusd
from shared.schemas import TaskRequest
from tests.security.conftest import Security, bearer

REQUEST: dict[str, Any] = {"task_description": "hi budget", "max_output_tokens": 20}
FITS = 10  # reservations that fit the budget
CONCURRENT = 30
WAIT_S = 30.0


def _reservation(security: Security, body: dict[str, Any] = REQUEST) -> int:
    request = TaskRequest.model_validate(body)
    return reservation_nusd(security.settings, request, list(security.settings.providers))


def _key(security: Security, budget_nusd: float) -> tuple[str, str]:
    return security.key("budget", rate="1000/s", burst=1000, monthly_budget_usd=budget_nusd / 1e9)


def _post(url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/tasks", json=body, headers=bearer(key), timeout=60, trust_env=False)


def _committed(security: Security, client_id: str) -> int:
    committed, _open = security.budgets.committed(client_id)
    return committed


def test_concurrent_submissions_near_the_limit_never_overspend(security: Security) -> None:
    each = _reservation(security)
    budget = to_nusd((FITS + 0.5) * each / NANOS_PER_USD)
    key, client_id = _key(security, budget)
    urls = [security.a.url, security.b.url] * (CONCURRENT // 2)
    with ThreadPoolExecutor(CONCURRENT) as pool:
        responses = list(pool.map(lambda url: _post(url, key, REQUEST), urls))
    statuses = sorted(r.status_code for r in responses)
    accepted = [r.json()["task_id"] for r in responses if r.status_code == 202]
    assert set(statuses) <= {202, 402}, statuses
    # Exactly the reservations that fit, plus any that settling finished tasks made room for.
    assert len(accepted) >= FITS
    assert _committed(security, client_id) <= budget
    refused = next(r for r in responses if r.status_code == 402).json()["error"]
    assert refused["code"] == "budget_exceeded"
    assert refused["message"].startswith("monthly budget exhausted")
    assert client_id in refused["message"]

    for task_id in accepted:
        task = security.wait(client_id, task_id, WAIT_S)
        assert task is not None
        assert task["status"] == "succeeded", task
    security.budgets.settle(client_id)
    spent = sum(to_nusd((security.task(client_id, t) or {})["usage"]["cost_usd"]) for t in accepted)
    assert _committed(security, client_id) == spent  # every reservation settled, exactly
    overspend = spent - budget
    print(
        f"\nbudget {budget} nUSD, reservation {each} each: {len(accepted)} of {CONCURRENT} "
        f"concurrent accepted, actual spend {spent} nUSD, overspend {overspend} nUSD"
    )
    assert overspend <= 0  # the documented bound: no overspend beyond the reservations

    # Settlement gave back what the tasks did not spend: one more fits if that is enough room.
    # (Finished tasks settled during the burst may already have let more in.)
    expected = 202 if budget - spent >= each else 402
    assert _post(security.a.url, key, REQUEST).status_code == expected


def test_a_repeated_submission_is_answered_when_the_budget_is_full(security: Security) -> None:
    each = _reservation(security)
    key, client_id = _key(security, 1.5 * each)
    task_id = f"budget-repeat-{uuid.uuid4().hex}"
    first = _post(security.a.url, key, REQUEST | {"task_id": task_id})
    assert first.status_code == 202, first.text
    other = _post(security.b.url, key, REQUEST)
    assert other.status_code == 402
    again = _post(security.b.url, key, REQUEST | {"task_id": task_id})
    assert again.status_code in (200, 202), again.text
    assert again.json()["task_id"] == task_id
    committed, open_reservations = security.budgets.committed(client_id)
    assert committed <= 1.5 * each
    assert open_reservations <= 1


def test_a_task_that_can_never_fit_gets_a_clear_402(security: Security) -> None:
    each = _reservation(security)
    key, _client_id = _key(security, each / 2)
    response = _post(security.a.url, key, REQUEST)
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert "may cost up to" in error["message"]
    assert "max_output_tokens" in error["message"]


def test_a_key_without_a_budget_is_not_limited_by_one(security: Security) -> None:
    key, client_id = security.key("nobudget", rate="1000/s", burst=1000)
    assert _post(security.a.url, key, REQUEST).status_code == 202
    assert security.budgets.committed(client_id) == (0, 0)
