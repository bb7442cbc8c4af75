"""Cost of one provider call, from the tokens the provider reported and the model catalog.

Prices live in the model catalog (`shared/catalog.py`, data in `shared/data/models.json`) with a
version id that every usage record stores. A model the catalog cannot price (unknown, or known
only for its lifecycle) is priced `None` with a warning: a made-up price would be worse than no
price.

Token categories: both adapters report reasoning ("thinking") tokens *inside* completion tokens
(that is how both providers bill them), so reasoning tokens are taken out of the completion
count and priced at their own rate (the output rate when the catalog gives none); cached prompt
tokens likewise come out of the prompt count at the cached-input rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

from shared.catalog import Prices, catalog
from shared.providers.base import Completion
from shared.structured_logs import log

logger = logging.getLogger(__name__)
_PER = 1_000_000


@dataclass(frozen=True)
class Cost:
    cost_usd: float | None
    price_version: str


def prices_for(model: str, provider: str | None = None, day: date | None = None) -> Prices | None:
    """The standard prices of `model` (exact id or a dated snapshot of one) in force on `day`."""
    info = catalog().lookup(model, provider)
    return info.prices_on(day or datetime.now(UTC).date()) if info else None


def cost_of(completion: Completion, requested_model: str, provider: str | None = None) -> Cost:
    version = catalog().version
    prices = prices_for(requested_model, provider) or prices_for(completion.model, provider)
    if prices is None:
        log(
            logger,
            logging.WARNING,
            "no price for model; cost recorded as null",
            model=completion.model or requested_model,
            price_version=version,
        )
        return Cost(None, version)
    return Cost(round(price_tokens(prices, completion), 10), version)


def price_tokens(prices: Prices, completion: Completion) -> float:
    """USD for one call's reported tokens, each category at its own rate."""
    cached = max(0, min(completion.cached_tokens, completion.prompt_tokens))
    reasoning = max(0, min(completion.reasoning_tokens, completion.completion_tokens))
    return (
        (completion.prompt_tokens - cached) * prices.input
        + cached * prices.cached_input
        + (completion.completion_tokens - reasoning) * prices.output
        + reasoning * prices.reasoning_rate
    ) / _PER
