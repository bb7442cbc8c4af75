"""The pure parts of ingest security, without the stack: rate plans, reservations, guards."""

from __future__ import annotations

import json

import pytest

from infra.settings import Settings
from infra.simulator.textgen import PromptCache, generate
from shared.auth import hash_key, presented_key
from shared.budget_math import charges, reservation_nusd, take
from shared.ratelimit import Limit, Plan, parse_rate
from shared.request_guard import (
    RequestProblemError,
    check_content_type,
    read_capped,
    scan_structure,
)
from shared.schemas import TaskRequest


@pytest.mark.parametrize(
    ("text", "per_s"), [("10/s", 10.0), ("600/m", 10.0), ("36/h", 0.01), ("2.5/sec", 2.5)]
)
def test_rates(text: str, per_s: float) -> None:
    assert parse_rate(text) == pytest.approx(per_s)


@pytest.mark.parametrize("text", ["10", "0/s", "-1/s", "10/d", "fast"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


@pytest.mark.parametrize(
    ("rate", "burst"), [(10.0, 20), (10.0, 10), (1.0, 1), (100.0, 200), (0.1, 1), (50.0, 3)]
)
def test_plans_keep_shards_within_firestore_limits(rate: float, burst: int) -> None:
    plan = Plan.of(Limit(rate, burst), lease_s=0.25)
    assert plan.shards >= 1
    assert plan.shards <= min(16, burst)
    assert plan.shard_capacity >= 1  # every shard can hold a whole token
    assert plan.lease >= 1
    assert plan.shard_rate * plan.shards == pytest.approx(rate)
    assert plan.shard_capacity * plan.shards == pytest.approx(burst)
    # About one lease write per shard per second (more only when the burst caps the shards).
    if plan.shards < burst:
        assert rate / plan.lease / plan.shards <= 1.0 + 1e-9 or plan.shards == 16


def test_limit_defaults_to_a_burst_of_two_seconds() -> None:
    assert Limit.of("10/s", None).burst == 20
    assert Limit.of("1/m", None).burst == 1


@pytest.mark.parametrize(
    ("body", "members"),
    [
        (b'{"a": 1}', 1),
        (b'{"a": [1, 2, 3], "b": {"c": "x,y[z]"}}', 6),
        (b'"just, a [string]"', 0),
        (b'{"a": "escaped \\" quote, and [bracket"}', 1),
    ],
)
def test_member_count_skips_strings(body: bytes, members: int) -> None:
    scan_structure(body, max_depth=8, max_members=members)
    if members:
        with pytest.raises(RequestProblemError) as error:
            scan_structure(body, max_depth=8, max_members=members - 1)
        assert error.value.problem.code == "too_many_fields"


@pytest.mark.parametrize(
    ("content_type", "required", "ok"),
    [
        ("application/json", True, True),
        ("application/json; charset=UTF-8", True, True),
        ("application/vnd.api+json", True, True),
        (None, False, True),
        (None, True, False),
        ("text/json", True, False),
        ("application/json; charset=utf-16", True, False),
        ("application/jsonp", True, False),
    ],
)
def test_content_types(content_type: str | None, required: bool, ok: bool) -> None:
    if ok:
        check_content_type(content_type, required=required)
        return
    with pytest.raises(RequestProblemError) as error:
        check_content_type(content_type, required=required)
    assert error.value.status == 415


def test_keys_are_read_from_either_header() -> None:
    assert presented_key({"Authorization": "Bearer k1"}) == "k1"
    assert presented_key({"Authorization": "bearer  k1 "}) == "k1"
    assert presented_key({"X-API-Key": "k2"}) == "k2"
    assert presented_key({"Authorization": "Bearer k1", "X-API-Key": "k2"}) == "k1"
    assert presented_key({"Authorization": "Basic abc"}) is None
    assert presented_key({}) is None


def test_the_stored_hash_depends_on_the_pepper() -> None:
    assert hash_key(b"one", "aiexec_x") != hash_key(b"two", "aiexec_x")
    assert len(hash_key(b"one", "aiexec_x")) == 64


def test_parts_and_charges_never_exceed_a_shard() -> None:
    assert take(10, [4, 0, 7]) == {2: 7, 0: 3}
    assert take(12, [4, 0, 7]) is None
    parts = {"s0": 3, "s2": 7}
    assert charges(parts, 6) == {"s2": 6, "s0": 0}
    assert charges(parts, 10) == parts
    assert charges(parts, 12) == {"s2": 9, "s0": 3}  # cost above the reservation: largest part


@pytest.mark.parametrize(
    "body",
    [
        {"task_description": "hi", "max_output_tokens": 20},
        {"task_description": "é" * 500, "system": "be brief", "max_output_tokens": 300},
        {"task_description": "Write code", "task_type": "code", "max_output_tokens": 50},
        {"task_description": "x", "model": {"openai": "gpt-6.2-sol"}, "max_output_tokens": 100},
        {"task_description": "x", "model": {"openai": "not-in-the-table"}},
    ],
)
def test_a_reservation_covers_what_the_simulator_bills(body: dict[str, object]) -> None:
    settings = Settings()
    request = TaskRequest.model_validate_json(json.dumps(body))
    reserved = reservation_nusd(settings, request, list(settings.providers))
    from shared.fallback import model_for
    from shared.pricing import price_tokens, prices_for
    from shared.providers.base import Completion

    for provider in settings.providers:
        model = model_for(settings, provider, request.model, request.task_type)
        gen = generate(
            tag=provider, model=model, prompt=request.task_description or "",
            system=request.system or "", max_tokens=request.max_output_tokens,
            cache=PromptCache(),
        )  # fmt: skip
        price = prices_for(model, provider)
        if price is None:
            continue  # unpriced: billed as null, reserved at the table's highest prices
        completion = Completion(
            text=gen.text, model=model, finish_reason=gen.finish,
            prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
            total_tokens=gen.prompt_tokens + gen.completion_tokens,
            cached_tokens=gen.cached_tokens, reasoning_tokens=gen.reasoning_tokens,
        )  # fmt: skip
        assert price_tokens(price, completion) * 1e9 <= reserved


class _Trickle:
    """A stream that hands out at most 7 bytes per read, as a socket may."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int) -> bytes:
        chunk, self.data = self.data[: min(size, 7)], self.data[min(size, 7) :]
        return chunk


def test_bodies_are_read_whole_up_to_one_byte_past_the_cap() -> None:
    assert read_capped(_Trickle(b"x" * 100), 200) == b"x" * 100
    assert read_capped(_Trickle(b"x" * 100), 100) == b"x" * 100
    assert len(read_capped(_Trickle(b"x" * 1000), 100)) == 101
