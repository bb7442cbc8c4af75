"""Cost of one provider call, from the tokens the provider reported and the price table.

Prices live in `shared/data/prices.json` (data, not code) with a version id that every usage
record stores. A model the table does not know is priced `None` with a warning: a made-up price
would be worse than no price.

Token categories: both adapters report reasoning ("thinking") tokens *inside* completion tokens
(that is how both providers bill them), so reasoning tokens are taken out of the completion
count and priced at their own rate (the output rate when the table gives none); cached prompt
tokens likewise come out of the prompt count at the cached-input rate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from shared.logging import log
from shared.providers.base import Completion

logger = logging.getLogger(__name__)
PRICES_FILE = Path(__file__).parent / "data" / "prices.json"
_PER = 1_000_000


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    input: float
    output: float
    cached_input: float
    reasoning: float | None = None  # None: billed at the output price
    source: str
    taken: str


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    currency: str
    unit: str
    notes: str = ""
    models: dict[str, ModelPrice]

    def lookup(self, model: str) -> ModelPrice | None:
        """Exact name first, then the longest known prefix (providers append dated suffixes)."""
        if model in self.models:
            return self.models[model]
        prefixes = [name for name in self.models if model.startswith(name + "-")]
        return self.models[max(prefixes, key=len)] if prefixes else None


@dataclass(frozen=True)
class Cost:
    cost_usd: float | None
    price_version: str


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    return PriceTable.model_validate(json.loads(PRICES_FILE.read_text(encoding="utf-8")))


def cost_of(completion: Completion, requested_model: str) -> Cost:
    table = price_table()
    price = table.lookup(requested_model) or table.lookup(completion.model)
    if price is None:
        log(
            logger,
            logging.WARNING,
            "no price for model; cost recorded as null",
            model=completion.model or requested_model,
            price_version=table.version,
        )
        return Cost(None, table.version)
    return Cost(round(price_tokens(price, completion), 10), table.version)


def price_tokens(price: ModelPrice, completion: Completion) -> float:
    """USD for one call's reported tokens, each category at its own rate."""
    cached = max(0, min(completion.cached_tokens, completion.prompt_tokens))
    reasoning = max(0, min(completion.reasoning_tokens, completion.completion_tokens))
    reasoning_rate = price.output if price.reasoning is None else price.reasoning
    return (
        (completion.prompt_tokens - cached) * price.input
        + cached * price.cached_input
        + (completion.completion_tokens - reasoning) * price.output
        + reasoning * reasoning_rate
    ) / _PER
