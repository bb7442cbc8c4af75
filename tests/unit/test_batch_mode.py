"""The batch lane's contract without the stack: `mode` on the request (default online; a batch
deadline of at least an hour, refused naming `deadline_s`), `batched` as a pending status, a
worker's refusal of a task in the batch lane, and the attempts entry of a task the sweeper moves
online for its deadline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from infra.settings import Settings
from shared.request_problems import describe_validation_error
from shared.schemas import (
    BATCH_MIN_DEADLINE_S,
    PENDING_STATUSES,
    TERMINAL_STATUSES,
    TaskRequest,
)
from shared.sweep_batch_lane import BATCH_DEADLINE, deadline_entry
from shared.task_leases import BeginKind, in_batch_lane, refusal

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def parse(body: dict[str, Any]) -> TaskRequest:
    return TaskRequest.model_validate_json(json.dumps(body))


def test_a_request_without_mode_is_online_and_keeps_no_mode_field() -> None:
    request = parse({"task_description": "hi"})
    assert request.mode is None and request.lane == "online"
    # Stored requests stay as they were sent: a resubmission of an older task compares equal.
    assert "mode" not in request.model_dump(exclude_none=True)


@pytest.mark.parametrize("deadline_s", [None, BATCH_MIN_DEADLINE_S, 86_400])
def test_a_batch_request_with_an_hour_or_more_is_valid(deadline_s: float | None) -> None:
    body: dict[str, Any] = {"task_description": "hi", "mode": "batch"}
    if deadline_s is not None:
        body["deadline_s"] = deadline_s
    assert parse(body).lane == "batch"


@pytest.mark.parametrize("deadline_s", [1, 900, BATCH_MIN_DEADLINE_S - 0.5])
def test_a_short_batch_deadline_is_refused_naming_deadline_s(deadline_s: float) -> None:
    body = {"task_description": "hi", "mode": "batch", "deadline_s": deadline_s}
    with pytest.raises(ValidationError) as refused:
        parse(body)
    problem = describe_validation_error(refused.value)
    assert (problem.code, problem.field) == ("invalid_field", "deadline_s")
    assert "3600" in problem.message
    assert parse(body | {"mode": "online"}).deadline_s == deadline_s  # online: no such bound


def test_an_unknown_mode_is_refused_naming_mode() -> None:
    with pytest.raises(ValidationError) as refused:
        parse({"task_description": "hi", "mode": "later"})
    assert describe_validation_error(refused.value).field == "mode"


def test_batched_is_pending_not_terminal() -> None:
    assert "batched" in PENDING_STATUSES and "batched" not in TERMINAL_STATUSES
    assert set(PENDING_STATUSES) == {"queued", "batched", "running"}


@pytest.mark.parametrize(
    ("task", "in_lane"),
    [
        ({"status": "queued", "mode": "batch", "hop": 0}, True),
        ({"status": "batched", "mode": "batch", "hop": 0}, True),
        ({"status": "queued", "mode": "online", "hop": 0}, False),  # moved online: a worker's
        ({"status": "queued", "hop": 0}, False),  # written before the batch lane: online
    ],
)
def test_a_worker_refuses_a_delivery_for_a_task_in_the_batch_lane(
    task: dict[str, Any], in_lane: bool
) -> None:
    assert in_batch_lane(task) is in_lane
    assert (refusal(task, 0, NOW) is BeginKind.BATCH_LANE) is in_lane


def test_moving_online_for_the_deadline_records_an_attempt_without_a_call() -> None:
    settings = Settings.model_construct(providers=["openai", "vertex"])
    task = {
        "chain": ["openai", "vertex"],
        "hop": 0,
        "request": {"task_description": "hi", "model": {"openai": "gpt-6.1-terra"}},
        "attempts": [],
    }
    entry = deadline_entry(settings, task, NOW)
    assert entry["attempt"] == 1 and entry["outcome"] == BATCH_DEADLINE == entry["error"]["code"]
    assert (entry["provider"], entry["model"]) == ("openai", "gpt-6.1-terra")
    assert entry["lane"] == "batch"
    assert (entry["calls"], entry["usage_ids"], entry["latency_ms"]) == (0, [], 0)
