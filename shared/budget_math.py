"""Budget arithmetic, with no I/O: how much a task reserves, and how amounts are split over a
month's shards and charged back onto them (the rules are in shared/budget.py's docstring).

Amounts are integer nano-USD, so sums are exact.
"""

from __future__ import annotations

import json
import math

from shared.catalog import ModelInfo, Prices, catalog
from shared.fallback import model_for
from shared.pricing import prices_for
from shared.schemas import TaskRequest
from shared.settings import TaskSettings

NANOS_PER_USD = 1_000_000_000
PROMPT_OVERHEAD_TOKENS = 16  # chat framing around the prompt and system messages
_PER_TOKEN = 1_000_000


def usd(nusd: int) -> str:
    return f"${nusd / NANOS_PER_USD:,.6f}".rstrip("0").rstrip(".")


def to_nusd(amount_usd: float) -> int:
    return math.ceil(round(amount_usd * NANOS_PER_USD, 3))


def reservation_nusd(settings: TaskSettings, request: TaskRequest, chain: list[str]) -> int:
    """The most one task can cost (see shared/budget.py), in nano-USD."""
    prompt = sum(len(text.encode()) for text in request.prompt_texts())
    if request.response_schema is not None:  # providers count the schema as prompt tokens
        prompt += len(json.dumps(request.response_schema).encode())
    input_tokens = prompt + PROMPT_OVERHEAD_TOKENS
    output_tokens = request.max_output_tokens or settings.max_output_tokens_limit
    known = [p for info in catalog().models.values() for p in (info.prices, *_changed(info))]
    priced = [p for p in known if p is not None]
    highest = (max(p.input for p in priced), max(_output_rate(p) for p in priced))
    worst = 0.0
    for provider in chain:
        model = model_for(settings, provider, request.model, request.task_type)
        price = prices_for(model, provider)
        rates = (price.input, _output_rate(price)) if price else highest  # unknown: the highest
        worst = max(worst, (input_tokens * rates[0] + output_tokens * rates[1]) / _PER_TOKEN)
    return to_nusd(worst)


def _output_rate(price: Prices) -> float:
    return max(price.output, price.reasoning or 0)


def _changed(info: ModelInfo) -> list[Prices]:
    return [change.prices for change in info.price_changes]


def take(amount: int, free: list[int], most: int | None = None) -> dict[int, int] | None:
    """Parts of `amount` from the shards with room, the most room first (so as few parts as
    can be), at most `most` of them; None if it does not fit."""
    parts: dict[int, int] = {}
    left = amount
    for index in sorted(range(len(free)), key=lambda i: free[i], reverse=True):
        if left == 0 or free[index] <= 0 or len(parts) == most:
            break
        part = min(left, free[index])
        parts[index] = part
        left -= part
    return parts if left == 0 else None


def charges(parts: dict[str, int], actual: int) -> dict[str, int]:
    """Where a settled task's actual cost is charged: its reservation's shards, none above its
    part, so no shard ends above its allowance; a cost above the reservation (see the bound in
    shared/budget.py) goes to the largest part."""
    charged: dict[str, int] = {}
    left = actual
    for shard_id in sorted(parts, key=lambda s: parts[s], reverse=True):
        charged[shard_id] = min(parts[shard_id], left)
        left -= charged[shard_id]
    if left and parts:
        charged[max(parts, key=lambda s: parts[s])] += left
    return charged
