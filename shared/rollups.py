"""Daily usage rollups: what the weekly report reads instead of the raw `usage` documents.

Layout: `rollups/{YYYY-MM-DD}-{shard:02d}` holds, for one day of the report's time zone, a map
`cells` keyed by `provider|model|client`; each cell counts calls (by outcome), tokens by
category, cost (integer nano-USD, so sums are exact and order-independent), call and task
latency histograms, error codes, and finished tasks (succeeded, failed, fallbacks); and the
batch lane's share of them (`batch_*`: calls, tokens, cost, saved against online prices, tasks).
Beside `cells`, the status page's fields of the tasks that ended that day (`status_hours`,
`slowest`: shared/status_counts.py), in the same write.

Why this shape:

- *No read, one write.* Every update is a blind `set(merge=True)` of `Increment`s, so it adds
  one write and no read to the commit that already writes the task.
- *Idempotent.* The update rides in the same atomic commit (transaction or conditional batch)
  as the `usage/{task_id}-{n}` creates (a duplicate create fails the whole commit) and as the
  task's move to a terminal state (which happens once: the commit is conditioned on the status
  it read, by a transaction or by the document's update time).
- *No hot document.* Each commit picks one of `rollup_shards` documents of the day at
  random, so the ~1 write/s/document limit scales with the shard count.
- *Constant report cost.* A report reads at most days x shards documents, whatever the number
  of tasks (the cells grow with provider x model x client combinations, not with tasks).

Bounded whatever clients send. Nothing a client writes becomes a field name as it is: a cell is
keyed by *labels* (`cell_labels`), and the exact names stay on the per-task documents (`usage`,
`tasks`), which ingest bounds. The provider label is a configured provider; the model label is
the model's catalog id (a dated snapshot counts under its base), the model itself when the
operator configured or allowed it, else `(other)`; the client label is the client name when it
is one by the rule of API-key clients (1-64 of `[A-Za-z0-9_.-]`), else `(invalid)`. So a day's
document holds at most providers x (catalog + operator models + 1) x clients cells, each of a
bounded size (`MAX_CELL_BYTES`); clients are bounded by the API keys the operator issues (and
by the publishers IAM lets publish on `tasks`). Should a document reach a Firestore limit anyway,
the store commits the task's change without its rollup update and counts the miss
(`record_missed`, `{day}-missed-{shard}`), which the report shows: a rollup never blocks a task.

Latency histograms use fixed log-spaced buckets (ratio 2^(1/4), ~9 % wide), good for p50/p95.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from shared.budget_math import NANOS_PER_USD
from shared.catalog import known_name
from shared.firestore.rollups import RollupDocuments
from shared.settings import TaskSettings
from shared.status_counts import StatusFields, finished_fields
from shared.task_ids import check_client_name

BUCKET_RATIO = 2**0.25
TOKEN_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
)
_KEY_SEPARATOR = "|"
_MAX_CODE = 64
OTHER_MODEL = "(other)"  # a model neither the catalog nor the operator knows
INVALID_CLIENT = "(invalid)"  # a client id that is not a client name
OTHER_PROVIDER = "(other)"  # not a configured provider (never written by the workers)
# A label longer than this (percent-encoded) counts as `(other)`: the operator's own model names
# stay far from Firestore's 1500-byte field path limit too.
_MAX_LABEL_BYTES = 256
# A cell's worst case in Firestore's storage size (a field name's UTF-8 bytes + 1, 8 bytes a
# number): ~27 counters with the batch lane's (~700 B), a call latency histogram (calls end at
# the provider timeout: ~60 buckets, ~0.7 KB), a task latency histogram (4 buckets per doubling:
# ~140 up to a year, ~1.7 KB), outcome and error codes of our own vocabulary (at most 64
# characters each, ~0.8 KB).
# Typical cells take 300-600 bytes (tests/integration/test_rollup_bounds.py measures them).
MAX_CELL_BYTES = 4096
MISSED = "missed"  # the field of a `{day}-missed-{shard}` document
ONLINE_LANE, BATCH_LANE = "online", "batch"  # a usage document's `lane` (absent = online)

Tree = dict[str, Any]  # nested str -> (Tree | number)


# --- histograms --------------------------------------------------------------------------


def latency_bucket(ms: float) -> int:
    """Bucket 0 holds sub-millisecond values; bucket b>0 holds [R^(b-1), R^b) ms."""
    if ms < 1:
        return 0
    return 1 + math.floor(math.log(ms) / math.log(BUCKET_RATIO))


def bucket_value(bucket: int) -> float:
    """A bucket's representative value: its geometric middle (0 for bucket 0)."""
    return 0.0 if bucket <= 0 else float(BUCKET_RATIO ** (bucket - 0.5))


def percentile(histogram: Mapping[str, int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of a sparse histogram, or None if it is empty."""
    counts = sorted((int(bucket), int(n)) for bucket, n in histogram.items() if int(n) > 0)
    total = sum(n for _, n in counts)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket, n in counts:
        seen += n
        if seen >= rank:
            return round(bucket_value(bucket), 1)
    return round(bucket_value(counts[-1][0]), 1)  # pragma: no cover - rank <= total


# --- cell keys and days ------------------------------------------------------------------


def model_label(settings: TaskSettings, provider: str, model: str) -> str:
    """The model as a rollup counts it: a bounded set of names (module docstring)."""
    if not model:
        return ""
    label = known_name(settings, provider, model) or OTHER_MODEL
    return label if len(quote(label, safe="")) <= _MAX_LABEL_BYTES else OTHER_MODEL


def client_label(client: str) -> str:
    """The client as a rollup counts it: a client name, else `(invalid)`."""
    if not client:
        return ""
    try:
        return check_client_name(client)
    except ValueError:
        return INVALID_CLIENT


def provider_label(settings: TaskSettings, provider: str) -> str:
    return provider if not provider or provider in settings.providers else OTHER_PROVIDER


def cell_labels(
    settings: TaskSettings, provider: str, model: str, client: str
) -> tuple[str, str, str]:
    return (
        provider_label(settings, provider),
        model_label(settings, provider, model),
        client_label(client),
    )


def cell_key(provider: str, model: str, client: str) -> str:
    """A map key that survives any provider/model/client text (percent-encoded parts)."""
    return _KEY_SEPARATOR.join(quote(part, safe="") for part in (provider, model, client))


def parse_cell_key(key: str) -> tuple[str, str, str]:
    provider, model, client = (unquote(part) for part in key.split(_KEY_SEPARATOR))
    return provider, model, client


def code_key(code: str | None) -> str:
    return quote((code or "unknown")[:_MAX_CODE], safe="")


def local_day(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).date().isoformat()


def rollup_id(day: str, shard: int) -> str:
    return f"{day}-{shard:02d}"


def missed_id(day: str, shard: int) -> str:
    return f"{day}-{MISSED}-{shard:02d}"


# --- what one usage document / one finished task adds ------------------------------------


def _bump(tree: Tree, path: Iterable[str], amount: int) -> None:  # amount < 0: a retraction
    *parents, leaf = path
    for name in parents:
        tree = tree.setdefault(name, {})
    tree[leaf] = tree.get(leaf, 0) + amount


def add_call(cell: Tree, usage: Mapping[str, Any]) -> None:
    """Counters of one `usage` document (the very dict that was created)."""
    _bump(cell, ["calls"], 1)
    outcome = str(usage.get("outcome") or "unknown")
    _bump(cell, ["outcomes", code_key(outcome)], 1)
    for name in TOKEN_FIELDS:
        if tokens := int(usage.get(name) or 0):  # a zero increment is a transform for nothing
            _bump(cell, [name], tokens)
    cost = usage.get("cost_usd")
    if cost is None:
        _bump(cell, ["unpriced_calls"], 1)
    else:
        _bump(cell, ["cost_nusd"], round(float(cost) * NANOS_PER_USD))
    _bump(cell, ["call_ms", str(latency_bucket(float(usage.get("latency_ms") or 0)))], 1)
    if outcome != "ok":
        _bump(cell, ["call_errors", code_key(usage.get("error_code") or outcome)], 1)
    if usage.get("structured"):  # answers checked against a response_schema (valid or not)
        _bump(cell, ["structured_calls"], 1)
    if usage.get("lane") == BATCH_LANE:
        _add_batch_call(cell, usage)


def _add_batch_call(cell: Tree, usage: Mapping[str, Any]) -> None:
    """The batch lane's share of a cell (the online lane is the rest): calls, tokens, cost and
    the same tokens at online prices, so the report shows what the lane saved. The online
    figure counts only where both prices are known (an unpriced call saves nothing known)."""
    _bump(cell, ["batch_calls"], 1)
    if tokens := int(usage.get("total_tokens") or 0):
        _bump(cell, ["batch_tokens"], tokens)
    cost, online = usage.get("cost_usd"), usage.get("online_cost_usd")
    if cost is not None:
        _bump(cell, ["batch_cost_nusd"], round(float(cost) * NANOS_PER_USD))
    if cost is not None and online is not None:
        saved = round(float(online) * NANOS_PER_USD) - round(float(cost) * NANOS_PER_USD)
        _bump(cell, ["batch_saved_nusd"], saved)


def was_fallback(task: Mapping[str, Any]) -> bool:
    """Success from a provider other than the chain's first, or failure after several."""
    chain = task.get("chain") or []
    if task.get("status") == "succeeded" and chain:
        return bool((task.get("result") or {}).get("provider") != chain[0])
    return len({str(a.get("provider")) for a in task.get("attempts") or []}) > 1


def task_dimensions(task: Mapping[str, Any]) -> tuple[str, str, str]:
    """(provider, model, client) a finished task is counted under: who finished it."""
    client = str(task.get("client_id") or "")
    result = task.get("result") or {}
    if task.get("status") == "succeeded" and result.get("provider"):
        return str(result["provider"]), str(result.get("model") or ""), client
    called = [a for a in task.get("attempts") or [] if a.get("calls")]
    last = called[-1] if called else (task.get("attempts") or [{}])[-1]
    return str(last.get("provider") or ""), str(last.get("model") or ""), client


def task_lane(task: Mapping[str, Any]) -> str:
    """The lane that finished a task: its last attempt's (`lane` absent = online), so a batch
    task moved to the online lane counts there."""
    attempts = task.get("attempts") or [{}]
    return str(attempts[-1].get("lane") or ONLINE_LANE)


def add_task(cell: Tree, task: Mapping[str, Any], completed_at: datetime, sign: int = 1) -> None:
    """Counters of one task that just became succeeded or failed (sign=-1 takes them back)."""
    status = str(task.get("status"))
    _bump(cell, ["tasks"], sign)
    _bump(cell, ["succeeded" if status == "succeeded" else "failed"], sign)
    if task_lane(task) == BATCH_LANE:
        _bump(cell, ["batch_tasks"], sign)
        _bump(cell, ["batch_succeeded" if status == "succeeded" else "batch_failed"], sign)
    if was_fallback(task):
        _bump(cell, ["fallbacks"], sign)
    created = task.get("created_at")
    if isinstance(created, datetime):
        ms = max(0.0, (completed_at - created).total_seconds() * 1000)
        _bump(cell, ["task_ms", str(latency_bucket(ms))], sign)
    if status != "succeeded":
        _bump(cell, ["task_errors", code_key((task.get("error") or {}).get("code"))], sign)


class Rollups:
    """Writes rollup increments into a caller's transaction (see the module docstring)."""

    def __init__(self, settings: TaskSettings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.report_timezone)
        self.documents = RollupDocuments(settings)

    def collection(self, client: Any) -> Any:
        return self.documents.collection(client)

    def cells_by_day(
        self, usage_docs: Iterable[Mapping[str, Any]], task: Mapping[str, Any] | None, now: datetime
    ) -> dict[str, dict[str, Tree]]:
        """Plain-number increments: day -> cell key -> counters."""
        days: dict[str, dict[str, Tree]] = {}
        for usage in usage_docs:
            key = self._key(str(usage["provider"]), str(usage["model"]), str(usage["client_id"]))
            day = local_day(usage["created_at"], self.zone)
            add_call(days.setdefault(day, {}).setdefault(key, {}), usage)
        if task is not None:
            key = self._key(*task_dimensions(task))
            add_task(days.setdefault(local_day(now, self.zone), {}).setdefault(key, {}), task, now)
        return days

    def _key(self, provider: str, model: str, client: str) -> str:
        return cell_key(*cell_labels(self.settings, provider, model, client))

    def record(
        self,
        writer: Any,
        client: Any,
        usage_docs: Iterable[Mapping[str, Any]],
        task: Mapping[str, Any] | None,
        now: datetime,
    ) -> int:
        """Add `usage_docs` and (if given) a task that just became terminal; returns writes.

        `writer` is the transaction (or batch) that creates those usage documents / makes the
        task terminal: the rollups then count each exactly once. The task's status-page fields
        (shared/status_counts.py) ride in the same document write.
        """
        status = self._status_fields(task, now) if task is not None else None
        return self._write(writer, client, self.cells_by_day(usage_docs, task, now), status)

    def retract(self, writer: Any, client: Any, task: Mapping[str, Any]) -> int:
        """Take back a terminal task's counters (a failed task replayed to `queued`), so that
        it is counted once, in its final outcome. Its calls stay counted: they were made."""
        completed_at = task.get("completed_at")
        if not isinstance(completed_at, datetime):
            return 0
        cell: Tree = {}
        add_task(cell, task, completed_at, sign=-1)
        day = local_day(completed_at, self.zone)
        status = self._status_fields(task, completed_at, sign=-1)
        return self._write(writer, client, {day: {self._key(*task_dimensions(task)): cell}}, status)

    def _status_fields(
        self, task: Mapping[str, Any], now: datetime, sign: int = 1
    ) -> StatusFields | None:
        provider, model, _ = task_dimensions(task)
        labels = (
            provider_label(self.settings, provider),
            model_label(self.settings, provider, model),
        )
        return finished_fields(task, now, labels, local_day(now, self.zone), sign=sign)

    def record_missed(
        self,
        writer: Any,
        client: Any,
        usage_docs: Iterable[Mapping[str, Any]],
        task: Mapping[str, Any] | None,
        now: datetime,
        *,
        retraction: Mapping[str, Any] | None = None,
    ) -> dict[str, int]:
        """Instead of `record` (or `retract`, for `retraction`) when that update could not be
        committed: count what the rollups miss, in a document of fixed fields per day and shard
        (`{day}-missed-{shard}`: calls, tasks, retractions), so that the report can say so."""
        misses: dict[str, Counter[str]] = {}
        for usage in usage_docs:
            misses.setdefault(local_day(usage["created_at"], self.zone), Counter())["calls"] += 1
        if task is not None:
            misses.setdefault(local_day(now, self.zone), Counter())["tasks"] += 1
        completed_at = (retraction or {}).get("completed_at")
        if isinstance(completed_at, datetime):
            day = local_day(completed_at, self.zone)
            misses.setdefault(day, Counter())["retractions"] += 1
        self._add_by_day(writer, client, missed_id, MISSED, misses)
        return dict(sum(misses.values(), Counter()))

    def _write(
        self,
        writer: Any,
        client: Any,
        days: dict[str, dict[str, Tree]],
        status: StatusFields | None = None,
    ) -> int:
        self._add_by_day(writer, client, rollup_id, "cells", days, status=status)
        return len(days)

    def _add_by_day(
        self,
        writer: Any,
        client: Any,
        document_id: Callable[[str, int], str],
        field: str,
        days: Mapping[str, Tree],
        *,
        status: StatusFields | None = None,
    ) -> None:
        """Add each day's counters to `field` of that day's document in one shard (chosen at
        random, once for the whole commit), and `status` to its day's."""
        shard = secrets.randbelow(self.settings.rollup_shards)
        for day, counters in days.items():
            fields: dict[str, Any] = {
                "day": day,
                "tz": self.settings.report_timezone,
                "shard": shard,
            }
            adds: dict[str, Any] = {field: counters}
            if status is not None and status.day == day:
                fields |= status.sets
                adds |= status.counters
            self.documents.stage_add(writer, client, document_id(day, shard), fields, adds)
