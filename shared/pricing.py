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


@dataclass(frozen=True)
class BatchCost:
    """A batch-lane call's cost: at the catalog's batch prices, the same tokens at online prices
    beside it (savings = online_cost_usd - cost_usd), and whether a batch price existed."""

    cost_usd: float | None
    online_cost_usd: float | None
    price_version: str
    # False: the catalog publishes no batch price for the model, so the call is priced at its
    # online prices (no saving claimed) and the usage document says so (`batch_priced: false`).
    batch_priced: bool


def batch_prices(model: str, provider: str | None = None, day: date | None = None) -> Prices | None:
    """The model's batch prices as a price list, None when the catalog gives none.

    Cached input at the batch cached rate, else at the online cached rate (the batch and cache
    discounts are not assumed to stack where the provider publishes no combined price);
    reasoning tokens at the batch output rate (both providers bill them as output).
    """
    prices = prices_for(model, provider, day)
    if prices is None or prices.batch_input is None or prices.batch_output is None:
        return None
    cached = prices.batch_cached_input
    return Prices(
        input=prices.batch_input,
        cached_input=prices.cached_input if cached is None else cached,
        output=prices.batch_output,
    )


def batch_cost_of(
    completion: Completion, requested_model: str, provider: str | None = None
) -> BatchCost:
    """Cost of one batch line's tokens: batch prices where the catalog has them, else online
    prices, marked (`batch_priced=False`); None (with a warning) when the model has no price."""
    online = cost_of(completion, requested_model, provider)
    prices = batch_prices(requested_model, provider) or batch_prices(completion.model, provider)
    if prices is None:
        if online.cost_usd is not None:
            log(
                logger,
                logging.WARNING,
                "no batch price for model; batch line priced at online prices",
                model=completion.model or requested_model,
                price_version=online.price_version,
            )
        return BatchCost(online.cost_usd, online.cost_usd, online.price_version, False)
    cost = round(price_tokens(prices, completion), 10)
    return BatchCost(cost, online.cost_usd, online.price_version, True)


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
