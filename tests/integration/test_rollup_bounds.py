"""Issue 13, finding 2 (rollup overflow), on the Firestore emulator: rollups stay bounded whatever
clients send, and a rollup write never blocks a task's finish.

Tasks go through the production store (`commit_creation` → `begin` → `finish`, `fail`,
`replay`) with a controlled clock (tests/reports/workload.py). Document sizes are computed with
Firestore's own storage-size rules (firebase.google.com/docs/firestore/storage-size: a string is
its UTF-8 bytes + 1, a number 8 bytes, a map the sum of its fields; a document adds its name + 16
and 32 bytes); the emulator enforces the limits (1 MiB a document, 1500 bytes a field path)
like Firestore.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from infra.settings import Settings
from shared.reports.period import iso_week
from shared.reports.service import ReportService
from shared.rollups import (
    INVALID_CLIENT,
    MAX_CELL_BYTES,
    OTHER_MODEL,
    cell_key,
    local_day,
    missed_id,
    parse_cell_key,
    rollup_id,
)
from tests.reports.workload import Workload, ok, own_collections, transient

_ids = itertools.count(1)
MONDAY = datetime(2021, 11, 15, 10, 0, tzinfo=UTC)  # 2021-W46
ENTITY_LIMIT = 1_048_576


@pytest.fixture
def settings(stack: Any) -> Settings:
    """Collections of this test's own, one rollup shard (every commit writes the same document)."""
    return own_collections(stack.settings, rollup_shards=1, report_timezone="UTC")


def value_size(value: Any) -> int:
    if isinstance(value, dict):
        return sum(len(str(k).encode()) + 1 + value_size(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(value_size(v) for v in value)
    if isinstance(value, str):
        return len(value.encode()) + 1
    if value is None or isinstance(value, bool):
        return 1
    return 8  # int, float, timestamp


def document_size(snapshot: Any) -> int:
    parts = snapshot.reference.path.split("/")
    name = sum(len(part.encode()) + 1 for part in parts) + 16
    return name + value_size(snapshot.to_dict() or {}) + 32


def rollup(settings: Settings, workload: Workload, day: str) -> Any:
    collection = workload.store.client.collection(settings.collection_rollups)
    return collection.document(rollup_id(day, 0)).get()


def hostile_model(n: int) -> str:
    """128 characters (ingest's bound on a model name), distinct, of 3- and 4-byte UTF-8, control
    characters included: before the fix its percent-encoded cell key alone took ~1.1-1.5 KB of
    the day's rollup document (200 such tasks: 227 KB of keys; ~900 filled the 1 MiB)."""
    emoji = "".join(chr(0x1F600 + (n * 7 + i) % 80) for i in range(60))
    cjk = "".join(chr(0x4E00 + (n * 13 + i) % 20000) for i in range(60))
    return f"m{n:05d}\x1b[31m\r{emoji}{cjk}"[:128]


def test_long_distinct_unicode_model_names_keep_the_rollup_small(settings: Settings) -> None:
    workload = Workload(settings)
    day = MONDAY.date().isoformat()
    sizes = []
    task_ids = []
    for n in range(120):
        model = hostile_model(n)
        client = "team-a" if n % 2 else f"evil\n{n}\x00" + "ü" * 200  # over Pub/Sub, unchecked
        provider = "openai" if n % 3 else "vertex"
        calls = [transient(model), ok(model)] if n % 4 == 0 else [ok(model)]
        at = MONDAY.replace(minute=n % 60, second=n // 60)
        task_ids.append(workload.task(at, client, [(provider, calls)]))
        if n in (19, 119):
            sizes.append(document_size(rollup(settings, workload, day)))

    # Every task finished, and the exact names are on the per-task documents.
    tasks = [workload.store.get(task_id) for task_id in task_ids]
    assert [t["status"] for t in tasks if t] == ["succeeded"] * len(task_ids)
    usage = workload.usage_docs(MONDAY, MONDAY.replace(hour=23))
    assert {u["model"] for u in usage} == {hostile_model(n) for n in range(120)}
    # The rollup holds labels only: one model label and two client labels per provider.
    snapshot = rollup(settings, workload, day)
    cells = (snapshot.to_dict() or {})["cells"]
    assert {parse_cell_key(key) for key in cells} == {
        (provider, OTHER_MODEL, client)
        for provider in ("openai", "vertex")
        for client in ("team-a", INVALID_CLIENT)
    }
    # ... so its size does not grow with the names sent: bounded by the cells, not the tasks.
    first, last = sizes
    assert last <= 4 * len(cells) * 1024 and last - first < 1024, sizes
    assert all(value_size(cell) <= MAX_CELL_BYTES for cell in cells.values())
    report = ReportService(settings).build(iso_week("2021-W46", "UTC")).report
    assert report["totals"]["tasks"] == 120 and report["totals"]["calls"] == len(usage) == 150
    assert report["by_model"][OTHER_MODEL]["calls"] == 150


def test_a_rollup_document_at_the_size_limit_does_not_block_a_finish(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A shard document already at Firestore's 1 MiB limit (as a past overflow left it): every
    rollup update to it is refused. The task still finishes, fails, replays; the misses are
    counted, logged with the task id, and the report says so."""
    workload = Workload(settings)
    day = local_day(MONDAY, ZoneInfo("UTC"))
    rollups = workload.store.client.collection(settings.collection_rollups)
    full = {"day": day, "tz": "UTC", "shard": 0, "cells": {cell_key("x", "y", "z"): {"calls": 1}}}
    full["padding"] = "x" * (ENTITY_LIMIT - 200 - value_size(full))
    rollups.document(rollup_id(day, 0)).set(full)
    assert document_size(rollups.document(rollup_id(day, 0)).get()) > ENTITY_LIMIT - 300

    with caplog.at_level(logging.ERROR, logger="shared.store"):
        done = workload.task(MONDAY, "team-a", [("openai", [ok("gpt-6.1-terra")])])
        failed = workload.task(MONDAY, "team-b", [("openai", [transient("gpt-6.1-terra")] * 3)])
    assert workload.store.get(done)["status"] == "succeeded"  # type: ignore[index]
    assert workload.store.get(failed)["status"] == "failed"  # type: ignore[index]
    assert len(workload.usage_docs(MONDAY, MONDAY.replace(hour=23))) == 4  # every call recorded
    assert workload.store.replay(failed) is not None  # its retraction is refused too
    refused = [r for r in caplog.records if "rollup update refused" in r.getMessage()]
    fields = [r.__dict__["fields"] for r in refused]
    assert [f["task_id"] for f in fields] == [done, failed, failed, failed]  # finish, fail, replay
    assert all("maximum entity size" in f["reason"] for f in fields)

    missed = (rollups.document(missed_id(day, 0)).get().to_dict() or {})["missed"]
    assert missed == {"calls": 4, "tasks": 2, "retractions": 1}
    assert (rollups.document(rollup_id(day, 0)).get().to_dict() or {})["cells"] == full["cells"]
    report = ReportService(settings).build(iso_week("2021-W46", "UTC")).report
    assert report["source"]["missed"] == missed
    assert any(
        "4 call(s) and 2 finished task(s) are not in these figures" in note
        for note in report["notes"]
    ), report["notes"]


def test_a_commit_refused_for_its_own_sake_still_fails(settings: Settings) -> None:
    """Only the rollup update is dropped: when the change itself is invalid, nothing is
    committed without it and the error escapes (Pub/Sub redelivers), as before."""
    from google.api_core import exceptions as gexc

    from shared.schemas import TaskStatus
    from shared.task_leases import Outcome

    workload = Workload(settings)
    store = workload.store
    task_id = f"own-{next(_ids)}"
    store.commit_creation(store.creation(task_id, "team-a", {"task_description": "x"}, ["openai"]))
    lease = store.begin(task_id, 0, "openai", "owner")
    too_big = {"text": "x" * ENTITY_LIMIT, "provider": "openai", "model": "gpt-6.1-terra"}
    with pytest.raises(gexc.InvalidArgument):
        store.finish(task_id, "owner", [], Outcome(TaskStatus.SUCCEEDED, result=too_big), lease)
    assert store.get(task_id)["status"] == "running"  # type: ignore[index]
    rollups = store.client.collection(settings.collection_rollups)
    assert not list(rollups.stream())  # no miss counted for a change that did not happen
