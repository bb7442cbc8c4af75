"""The floor: the thinnest functions with the shape of a task's happy path, on the same emulators.

A task's happy path, counted from the code (`shared/ingest.py`, `shared/worker.py`,
`shared/store.py`):

    client ── publish `tasks` (or POST /tasks) ──► ingest: create tasks/{id}           1 write
          ── publish `tasks-<p1>` ──push──► worker: begin (read, then a write conditioned
                                            on it: the lease)                1 read + 1 write
                                            provider call
                                            finish (one batch conditioned on the lease):
                                            task update, usage create, rollup        3 writes
          ── publish `task-results`

that is 3 messages (2 of them pushed to a function), 5 document writes in 3 commits, 1 read.
The floor sends the same messages and commits the same writes, one commit per step, with no
reads, no preconditions, no validation and no provider — what the infrastructure costs anyway:

    floor_ingest_event / floor_ingest_http: create bench-floor/{id}, publish `bench-floor-work`
    floor_worker: update it (running); one batch of 3 writes (the document succeeded, a usage
                  document, a rollup increment); publish `bench-floor-results`

Its documents carry the fields a task's do for the waiter (`task_id`, `status`, `created_at`,
`completed_at`), so the benchmark measures both with the same code.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import functions_framework
from google.cloud import firestore

from infra.settings import Settings, get_settings
from shared import opcount
from shared.bus import Bus

COLLECTION = "bench-floor"
USAGE_COLLECTION = "bench-floor-usage"
ROLLUP_COLLECTION = "bench-floor-rollups"
TOPIC_IN = "bench-floor-in"
TOPIC_WORK = "bench-floor-work"
TOPIC_RESULTS = "bench-floor-results"
ROLLUP_SHARDS = 16


@lru_cache(maxsize=1)
def _clients() -> tuple[Settings, Any, Bus]:
    settings = get_settings()
    client = firestore.Client(project=settings.project_id)
    return settings, opcount.instrument_firestore(client, settings), Bus(settings)


def _accept(task_id: str) -> None:
    _, db, bus = _clients()
    now = datetime.now(UTC)
    db.collection(COLLECTION).document(task_id).create(
        {"task_id": task_id, "status": "queued", "created_at": now, "completed_at": None}
    )
    bus.publish(TOPIC_WORK, json.dumps({"task_id": task_id}).encode())


def _task_id(body: bytes) -> str:
    return str(json.loads(body)["task_id"])


def _pushed(event: Any) -> bytes:
    return base64.b64decode(event.data["message"]["data"])


@functions_framework.cloud_event
def floor_ingest_event(event: Any) -> None:
    _accept(_task_id(_pushed(event)))


@functions_framework.http
def floor_ingest_http(request: Any) -> Any:
    if request.method != "POST":  # the readiness probe
        return {"status": "ok"}, 200
    task_id = _task_id(request.get_data())
    _accept(task_id)
    return {"task_id": task_id, "status": "queued"}, 202


@functions_framework.cloud_event
def floor_worker(event: Any) -> None:
    _, db, bus = _clients()
    task_id = _task_id(_pushed(event))
    ref = db.collection(COLLECTION).document(task_id)
    ref.update({"status": "running", "updated_at": datetime.now(UTC)})
    now = datetime.now(UTC)
    batch = db.batch()
    batch.update(ref, {"status": "succeeded", "completed_at": now, "updated_at": now})
    batch.create(
        db.collection(USAGE_COLLECTION).document(f"{task_id}-1"),
        {"task_id": task_id, "created_at": now},
    )
    shard = secrets.randbelow(ROLLUP_SHARDS)
    batch.set(
        db.collection(ROLLUP_COLLECTION).document(f"{now:%Y-%m-%d}-{shard:02d}"),
        {"tasks": firestore.Increment(1)},
        merge=True,
    )
    batch.commit()
    bus.publish(TOPIC_RESULTS, json.dumps({"task_id": task_id, "status": "succeeded"}).encode())
