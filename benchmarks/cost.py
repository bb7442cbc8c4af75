"""Per-task operations (from the counters) and what they cost per million tasks.

Prices come from `benchmarks/infra_prices.json` (with its sources and the date they were taken);
the assumptions behind each line (Pub/Sub's 1000-byte minimum per request, functions billed one
invocation at a time) are written there too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.stats import Figures

PRICES_FILE = Path(__file__).with_name("infra_prices.json")
TIB = 2**40
MILLION = 1_000_000


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    prices: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return prices


def totals(counts: Mapping[str, Counter[str]], components: list[str]) -> Counter[str]:
    """The counters of `components` added up."""
    total: Counter[str] = Counter()
    for name in components:
        total.update(counts.get(name, Counter()))
    return total


def ops_per_task(
    total: Counter[str],
    tasks: int,
    client_messages: Mapping[str, int],
    subscriptions: Mapping[str, int],
) -> Figures:
    """Operations per task: Firestore (counted in the functions), Pub/Sub messages published
    (counted in the functions, plus the client's own publishes) and delivered (each message once
    per subscription of its topic), invocations and billed function time."""
    if tasks <= 0:
        return {}
    published: Counter[str] = Counter(dict(client_messages))
    for key, value in total.items():
        if key.startswith("pubsub.messages."):
            published[key.removeprefix("pubsub.messages.")] += value
    delivered = sum(n * subscriptions.get(topic, 0) for topic, n in published.items())
    reads, writes = total["firestore.reads"], total["firestore.writes"]
    sent = total["pubsub.messages"]
    return {
        "firestore_reads": reads / tasks,
        # The breaker's cached state is re-read per instance every few seconds: a cost of
        # time and instances, not of tasks, so it is shown apart.
        "firestore_reads_circuits": total["firestore.reads.circuits"] / tasks,
        "firestore_writes": writes / tasks,
        "firestore_deletes": total["firestore.deletes"] / tasks,
        "firestore_ops": (reads + writes + total["firestore.deletes"]) / tasks,
        "firestore_commits": total["firestore.commits"] / tasks,
        "pubsub_published": sum(published.values()) / tasks,
        "pubsub_delivered": delivered / tasks,
        "pubsub_bytes_per_message": total["pubsub.bytes"] / sent if sent else 0.0,
        "invocations": total["invocations"] / tasks,
        "billed_ms": total["invocation_billed_ms"] / tasks,
        "handler_ms": total["invocation_us"] / 1000 / tasks,
    }


def dollars_per_million(ops: Mapping[str, Any], prices: Mapping[str, Any]) -> Figures:
    """Infrastructure dollars per million tasks, by service, from per-task operations."""
    if not ops:
        return {}
    fs, ps, fn = prices["firestore"], prices["pubsub"], prices["functions"]
    firestore_usd = (
        ops["firestore_reads"] * fs["read_per_100k"]
        + ops["firestore_writes"] * fs["write_per_100k"]
        + ops["firestore_deletes"] * fs["delete_per_100k"]
    ) * (MILLION / 100_000)
    requests = ops["pubsub_published"] + ops["pubsub_delivered"]
    billed_bytes = max(ps["min_bytes_per_request"], ops["pubsub_bytes_per_message"])
    pubsub_usd = requests * billed_bytes * MILLION / TIB * ps["per_tib"]
    invocations_usd = ops["invocations"] * fn["per_million_invocations"]
    instance = fn["instance"]
    per_second = instance["vcpu"] * fn["per_vcpu_second"]
    per_second += instance["memory_gib"] * fn["per_gib_second"]
    compute_usd = ops["billed_ms"] / 1000 * per_second * MILLION
    figures = {
        "usd_firestore": firestore_usd,
        "usd_pubsub": pubsub_usd,
        "usd_invocations": invocations_usd,
        "usd_compute": compute_usd,
    }
    figures["usd_infra_total"] = sum(figures.values())
    return {key: round(value, 3) for key, value in figures.items()}


def provider_usd_per_million(docs: list[dict[str, Any]]) -> float | None:
    """The provider token cost of these tasks (their `usage.cost_usd`), per million tasks."""
    costs = [(d.get("usage") or {}).get("cost_usd") for d in docs]
    priced = [float(c) for c in costs if isinstance(c, int | float)]
    if not priced:
        return None
    return round(sum(priced) / len(priced) * MILLION, 2)


def tokens_per_task(docs: list[dict[str, Any]]) -> float | None:
    """Mean total tokens per task (its `usage.total_tokens`, over every attempt)."""
    tokens = [(d.get("usage") or {}).get("total_tokens") for d in docs]
    counted = [float(t) for t in tokens if isinstance(t, int | float)]
    return round(sum(counted) / len(counted), 1) if counted else None
