"""One batch: submit N tasks at once (Pub/Sub or HTTP), see each one finish, keep the figures.

How completion is seen: through the completion events (`task-results` for the pipeline, the
floor's own results topic for the floor), on a subscription of the benchmark's own — how an
event-driven client learns that its task is done. Then the batch's documents are read once, for
the pipeline's own timestamps (`created_at` → `completed_at`), results and token cost.

Why not Firestore snapshot listeners (as `ChaosRunner` waits): measured here, one query listener
over a 1,000-task batch cost the client ~120 s of CPU (the Python watch re-sorts the whole result
set on every change) and slowed the emulator's writes 4x; one listener per task is a stream per
task. Either would measure the client, not the pipeline.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from shared.bus import Bus
from shared.schemas import TERMINAL_STATUSES

SUBMIT_THREADS = 16  # like `ChaosRunner.submit`: enough to publish faster than the stack drains
STALL_S = 60.0  # no completion for this long: stop waiting, the rest count as lost
READ_CHUNK = 200
PROMPT = "Summarize the trade-offs of event-driven architectures in three sentences ({})."


@dataclass
class BatchRun:
    """What one batch did, in the client's monotonic clock and the documents' timestamps."""

    ids: list[str]
    submitted: dict[str, float] = field(default_factory=dict)  # id → when its submit began
    seen: dict[str, float] = field(default_factory=dict)  # id → when its completion arrived
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → final document
    submit_errors: int = 0
    accept_ms: list[float] = field(default_factory=list)  # each accepted submit's duration
    submit_span_s: float | None = None  # first submit began → last submit returned

    @property
    def finished(self) -> list[str]:
        return [i for i in self.ids if self.docs.get(i, {}).get("status") in TERMINAL_STATUSES]

    @property
    def lost(self) -> list[str]:
        """Never terminal (or never created): what the pipeline must never do."""
        done = set(self.finished)
        return [i for i in self.ids if i not in done]

    @property
    def wall_s(self) -> float | None:
        """First submit → last completion seen (None unless every task finished)."""
        if self.lost or not self.submitted or not self.seen:
            return None
        return max(self.seen.values()) - min(self.submitted.values())

    def client_ms(self) -> list[float]:
        return [(self.seen[i] - self.submitted[i]) * 1000 for i in self.seen if i in self.submitted]

    def server_ms(self) -> list[float]:
        """completed_at - created_at of each finished document (the pipeline's own clock)."""
        values = []
        for doc in self.docs.values():
            created, completed = doc.get("created_at"), doc.get("completed_at")
            if created is not None and completed is not None:
                values.append((completed - created).total_seconds() * 1000)
        return values


class Completions:
    """A pull subscription of the benchmark's own on a completion topic, streamed."""

    def __init__(self, project: str, topic: str, name: str) -> None:
        self._subscriber = pubsub_v1.SubscriberClient()
        self._path = self._subscriber.subscription_path(project, name)
        with contextlib.suppress(gexc.AlreadyExists):  # left by a run that was killed
            self._subscriber.create_subscription(
                request={"name": self._path, "topic": f"projects/{project}/topics/{topic}"}
            )
        self._lock = threading.Lock()
        self._waiting: dict[str, float] = {}
        self._expected: set[str] = set()
        self._progress = threading.Condition(self._lock)
        flow = pubsub_v1.types.FlowControl(max_messages=2000)
        self._future = self._subscriber.subscribe(self._path, self._on_message, flow_control=flow)

    def _on_message(self, message: Any) -> None:
        now = time.monotonic()
        try:
            task_id = str(json.loads(message.data)["task_id"])
        except (ValueError, KeyError, TypeError):
            task_id = ""
        message.ack()
        with self._lock:
            if task_id in self._expected and task_id not in self._waiting:
                self._waiting[task_id] = now
                self._progress.notify_all()

    @contextmanager
    def expecting(self, ids: list[str]) -> Iterator[dict[str, float]]:
        """Record completions of `ids` (id → when seen) while the block runs."""
        seen: dict[str, float] = {}
        with self._lock:
            self._expected, self._waiting = set(ids), seen
        try:
            yield seen
        finally:
            with self._lock:
                self._expected, self._waiting = set(), {}

    def wait(self, seen: dict[str, float], count: int, timeout_s: float) -> None:
        """Until `count` completions arrived, none came for `STALL_S`, or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            last, progress = len(seen), time.monotonic()
            while len(seen) < count:
                now = time.monotonic()
                if now >= deadline or now - progress >= STALL_S:
                    return
                self._progress.wait(min(1.0, deadline - now))
                if len(seen) != last:
                    last, progress = len(seen), time.monotonic()

    def close(self) -> None:
        self._future.cancel()
        with contextlib.suppress(CancelledError, gexc.GoogleAPIError, TimeoutError):
            self._future.result(timeout=10)  # the stream's shutdown
        self._subscriber.delete_subscription(request={"subscription": self._path})
        self._subscriber.close()


Submit = Callable[[str, bytes], bool]  # (task_id, body) → accepted


def pubsub_submitter(bus: Bus, topic: str) -> Submit:
    def submit(_task_id: str, body: bytes) -> bool:
        bus.publish(topic, body)
        return True

    return submit


def http_submitter(client: httpx.Client, url: str) -> Submit:
    def submit(_task_id: str, body: bytes) -> bool:
        response = client.post(url, content=body, headers={"Content-Type": "application/json"})
        return response.status_code in (200, 202)

    return submit


def new_ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:06d}-{uuid.uuid4().hex[:6]}" for i in range(n)]


def submit_all(run: BatchRun, submit: Submit, fields: dict[str, Any] | None = None) -> None:
    """Submit every task of `run` (16 threads), each request with `fields` added (the batch
    lane's `mode`)."""
    lock = threading.Lock()

    def one(task_id: str) -> None:
        request = {"task_description": PROMPT.format(task_id), "task_id": task_id}
        body = json.dumps(request | (fields or {}))
        began = run.submitted[task_id] = time.monotonic()
        try:
            accepted = submit(task_id, body.encode())
        except (httpx.HTTPError, gexc.GoogleAPIError, TimeoutError):  # counted; and lost
            accepted = False
        ended = time.monotonic()
        with lock:
            if accepted:
                run.accept_ms.append((ended - began) * 1000)
            else:
                run.submit_errors += 1

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=SUBMIT_THREADS) as pool:
        list(pool.map(one, run.ids))
    run.submit_span_s = time.monotonic() - began


def read_docs(db: Any, collection: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), READ_CHUNK):
        refs = [db.collection(collection).document(i) for i in ids[start : start + READ_CHUNK]]
        for snap in db.get_all(refs):
            if snap.exists:
                docs[snap.id] = snap.to_dict() or {}
    return docs


def run_batch(
    db: Any,
    completions: Completions,
    *,
    collection: str,
    prefix: str,
    n: int,
    submit: Submit,
    timeout_s: float,
) -> BatchRun:
    """Submit `n` tasks at once and wait (at most `timeout_s`) until each is terminal."""
    run = BatchRun(ids=new_ids(prefix, n))
    with completions.expecting(run.ids) as seen:
        submit_all(run, submit)
        completions.wait(seen, n, timeout_s)
        run.seen = dict(seen)
    run.docs = read_docs(db, collection, run.ids)
    return run
