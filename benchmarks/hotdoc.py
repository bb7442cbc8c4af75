"""The hottest document: the most writes any single Firestore document took during a batch,
from the per-document counters (`shared/opcount.py`, `doc.<path>` keys), and what that becomes
at a target rate.

Scaling: shards are picked at random per write, so a document's share of the tasks' writes is
fixed by the configured shard counts; at R tasks/s it takes writes_per_task x R writes/s. With
`AIEXEC_PEAK_TASKS_PER_S` = R, a sharded family (rollups, budgets) is spread over the shards
derived for R: each takes (the family's writes per task) x R / shards on average. The target
is Firestore's guidance for one document: about 1 sustained write per second.

The ingest side (`per_client`): one client submitting at R tasks/s with a rate limit of R/s
(and a monthly budget) writes its rate-limit shards once per lease of tokens (shared/ratelimit.py
`Plan`: R / lease / shards writes/s each) and its budget shards once per reservation (R / the
shards derived for its rate, shared/budget_count.py) — arithmetic from the same rules ingest
runs, not a measurement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from benchmarks.stats import Figures
from shared.budget_count import shard_count
from shared.opcount import DOC_PREFIX
from shared.ratelimit import Limit, Plan
from shared.settings import IngestSettings
from shared.settings_core import SHARDED_WRITES_PER_TASK, shard_counts

TARGET_TASKS_PER_S = 1000
MAX_WRITES_PER_DOC_PER_S = 1.0
SHARDED = {"rollups": "rollup_shards", "budgets": "budget_shards"}  # collection → its setting


def at_peak(collection: str, family_per_task: float, doc_per_task: float, rate: float) -> float:
    """Writes/s to one document of `collection` at `rate` tasks/s with AIEXEC_PEAK_TASKS_PER_S =
    `rate`: the family's mean per shard when sharded by the peak, else the document's own."""
    setting = SHARDED.get(collection)
    if setting is None:
        return doc_per_task * rate
    return family_per_task * rate / shard_counts(rate)[setting]


def per_client(rate: float, settings: IngestSettings | None = None) -> Figures:
    """One client at `rate` tasks/s, its rate limit `rate`/s (default burst) and a budget far
    from full: its rate-limit and budget shards and the writes/s each takes on average."""
    settings = settings or IngestSettings.model_construct()  # the rules' defaults, no env
    plan = Plan.of(Limit.of(f"{rate:g}/s", None), settings.rate_limit_lease_s)
    budget_shards = shard_count(settings, rate, 10**18, 1)  # the budget bounds nothing
    per_task = SHARDED_WRITES_PER_TASK["budget_shards"][0]  # one reservation per task
    return {
        "client_tasks_per_s": rate,
        "client_ratelimit_shards": plan.shards,
        "client_ratelimit_writes_per_s_per_shard": round(rate / plan.lease / plan.shards, 3),
        "client_budget_shards": budget_shards,
        "client_budget_writes_per_s_per_shard": round(per_task * rate / budget_shards, 3),
    }


def family_writes(counts: Mapping[str, Counter[str]], collection: str) -> int:
    key = f"firestore.writes.{collection}"
    return sum(component.get(key, 0) for component in counts.values())


def doc_writes(counts: Mapping[str, Counter[str]]) -> Counter[str]:
    """Document path → writes, summed over the components (several processes write a shard)."""
    out: Counter[str] = Counter()
    for component in counts.values():
        for key, value in component.items():
            if key.startswith(DOC_PREFIX) and value > 0:
                out[key.removeprefix(DOC_PREFIX)] += value
    return out


def collection_of_doc(path: str) -> str:
    parts = path.split("/")
    return parts[-2] if len(parts) >= 2 else path


def hot_figures(
    counts: Mapping[str, Counter[str]],
    tasks: int,
    wall_s: float | None,
    at_tasks_per_s: float = TARGET_TASKS_PER_S,
) -> Figures:
    """The hottest document of a batch: which, its writes, per second sustained over the batch,
    per task, and per second at `at_tasks_per_s`; the hottest per collection too."""
    client = per_client(at_tasks_per_s)
    writes = doc_writes(counts)
    if not writes or tasks <= 0:
        return {"hot_doc": None} | client
    path, most = writes.most_common(1)[0]
    per_task = most / tasks
    collection = collection_of_doc(path)
    family = family_writes(counts, collection) / tasks
    by_collection: dict[str, list[object]] = {}
    for doc, n in writes.most_common():
        by_collection.setdefault(collection_of_doc(doc), [doc, round(n / tasks, 4)])
    return {
        "hot_doc": path,
        "hot_doc_writes": most,
        "hot_doc_writes_per_s": round(most / wall_s, 2) if wall_s else None,
        "hot_doc_writes_per_task": round(per_task, 4),
        "hot_doc_writes_per_s_at_target": round(per_task * at_tasks_per_s, 2),
        # ... with AIEXEC_PEAK_TASKS_PER_S = the target rate (the shards it derives)
        "hot_doc_writes_per_s_at_target_peak": round(
            at_peak(collection, family, per_task, at_tasks_per_s), 3
        ),
        "hot_doc_family_writes_per_task": round(family, 4),
        "hot_doc_target_tasks_per_s": at_tasks_per_s,
        "hot_docs_by_collection": by_collection,
    } | client
