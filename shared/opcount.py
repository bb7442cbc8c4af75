"""Opt-in operation counters (for `aiexec bench`): Firestore reads and writes, Pub/Sub messages,
function invocations — counted where they really happen, not estimated.

Off unless `count_operations_dir` is set (the default): then nothing is wrapped, and the only cost
left in the hot path is one `is None` check per publish. On, a process that builds a `TaskStore`
or a `Bus` counts:

- Firestore, at the GAPIC layer every call goes through (documents, transactions, the breaker,
  rollups): each `Write` of a commit is one write (deletes apart), each document a read or a
  query returns is one read, a query that returns nothing one read — Firestore's billing units;
  attributed to the collection, so a report can say where they go;
- Pub/Sub messages (and bytes) per topic, as `Bus.publish` sends them;
- invocations of the function (Flask request signals) and their duration, raw and rounded up to
  100 ms as request-based billing rounds it.

Totals are cumulative per process; a daemon thread writes them to `<dir>/<pid>.json` (atomically,
about five times a second when they changed), so a reader takes deltas between two snapshots.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from shared.settings import TaskSettings

FLUSH_INTERVAL_S = 0.2
BILLING_ROUNDING_MS = 100
# Writes per document path: only documents written at least this often appear in the counters
# file (`doc.<path>` keys), so a batch's task documents (a few writes each) stay out of it and
# the shared ones (rollup, budget, rate-limit shards, circuits) — the candidates for the hottest
# document — are in it. A document crossing the threshold during a measurement is over-counted
# by at most this many writes in that delta.
HOT_DOC_MIN_WRITES = 8
DOC_PREFIX = "doc."

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_doc_writes: Counter[str] = Counter()  # document path (below `/documents/`) → writes
# The paths written HOT_DOC_MIN_WRITES times or more: the file lists these, and a flush walks
# only them (walking every path written — tens of thousands in a benchmark — five times a
# second cost the counted functions CPU the measurement then reported as theirs).
_hot_docs: set[str] = set()
_dirty = threading.Event()
_local = threading.local()
_where: list[Path] = []  # the counters directory, once counting is on in this process


def install(settings: TaskSettings) -> bool:
    """Start counting in this process if `settings` asks for it; idempotent. Whether on."""
    if settings.count_operations_dir is None:
        return False
    with _lock:
        if _where:
            return True
        directory = Path(settings.count_operations_dir)
        directory.mkdir(parents=True, exist_ok=True)
        _where.append(directory)
        _connect_request_signals()
        threading.Thread(target=_flush_loop, name="opcount-flush", daemon=True).start()
    return True


def add(key: str, amount: int = 1) -> None:
    with _lock:
        _counts[key] += amount
    _dirty.set()


def snapshot() -> dict[str, int]:
    """The counters, with `doc.<path>` for each document written `HOT_DOC_MIN_WRITES` times."""
    with _lock:
        hot = {DOC_PREFIX + path: _doc_writes[path] for path in _hot_docs}
        return dict(_counts) | hot


def document_of(path: str) -> str:
    """`projects/p/databases/d/documents/rollups/2026-11-30-03` → `rollups/2026-11-30-03`."""
    _, _, rest = path.partition("/documents/")
    return rest or path


# --- Pub/Sub ---------------------------------------------------------------------------------


def publish_counter(settings: TaskSettings) -> Callable[[str, int], None] | None:
    """What `Bus.publish` calls with (topic, bytes) when counting is on; None when off."""
    return _count_publish if install(settings) else None


def _count_publish(topic: str, size: int) -> None:
    with _lock:
        _counts["pubsub.messages"] += 1
        _counts[f"pubsub.messages.{topic}"] += 1
        _counts["pubsub.bytes"] += size
    _dirty.set()


# --- Firestore -------------------------------------------------------------------------------


def instrument_firestore(client: Any, settings: TaskSettings) -> Any:
    """`client`, its GAPIC methods wrapped to count billed operations when counting is on."""
    if not install(settings):
        return client
    api = client._firestore_api  # the one GAPIC client every call of `client` goes through
    api.commit = _counted_commit(api.commit)
    api.batch_get_documents = _counted_stream(api.batch_get_documents, "found", "documents")
    api.run_query = _counted_stream(api.run_query, "document", "parent")
    api.run_aggregation_query = _counted_stream(api.run_aggregation_query, None, "parent")
    return client


def collection_of(path: str) -> str:
    """`projects/p/databases/d/documents/tasks/abc` → `tasks` (sub-collections: last one)."""
    _, _, rest = path.partition("/documents/")
    parts = rest.split("/") if rest else []
    if not parts:
        return "?"
    return parts[-2] if len(parts) % 2 == 0 else parts[-1]


def _field(request: Any, name: str) -> Any:
    return request.get(name) if isinstance(request, dict) else getattr(request, name, None)


def _counted_commit(commit: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        response = commit(*args, **kwargs)
        writes = _field(kwargs.get("request") or (args[0] if args else {}), "writes") or []
        with _lock:
            _counts["firestore.commits"] += 1
            for write in writes:
                kind, path = _write_target(write)
                _counts[f"firestore.{kind}"] += 1
                _counts[f"firestore.{kind}.{collection_of(path)}"] += 1
                if kind == "writes":
                    doc = document_of(path)
                    _doc_writes[doc] += 1
                    if _doc_writes[doc] == HOT_DOC_MIN_WRITES:
                        _hot_docs.add(doc)
        _dirty.set()
        return response

    return counted


def _write_target(write: Any) -> tuple[str, str]:
    """("writes" | "deletes", document path) of one `Write` (a proto-plus message)."""
    operation = type(write).pb(write).WhichOneof("operation")
    if operation == "delete":
        return "deletes", str(write.delete)
    if operation == "transform":
        return "writes", str(write.transform.document)
    return "writes", str(write.update.name)


def _counted_stream(
    call: Callable[..., Iterable[Any]], doc_field: str | None, path_field: str
) -> Callable[..., Iterator[Any]]:
    """A streaming read whose responses are counted as they are consumed."""

    def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
        request = kwargs.get("request") or (args[0] if args else {})
        paths = _field(request, path_field)
        path = paths[0] if isinstance(paths, list | tuple) and paths else str(paths or "")
        return _reads(call(*args, **kwargs), doc_field, collection_of(str(path)))

    return counted


def _reads(responses: Iterable[Any], doc_field: str | None, collection: str) -> Iterator[Any]:
    returned = 0
    try:
        for response in responses:
            returned += _is_document(response, doc_field)
            yield response
    finally:
        billed = max(returned, 1)  # a query that returns nothing still costs one read
        with _lock:
            _counts["firestore.reads"] += billed
            _counts[f"firestore.reads.{collection}"] += billed
        _dirty.set()


def _is_document(response: Any, doc_field: str | None) -> int:
    if doc_field == "found":  # batch get: found or missing, both billed as a read
        return 1
    if doc_field == "document":  # query: progress-only responses carry no document
        return 1 if "document" in response else 0
    return 0  # aggregation: billed by index entries; counted as the one-read minimum


# --- invocations -----------------------------------------------------------------------------


def _connect_request_signals() -> None:
    """Count each HTTP request (a push delivery is one) with Flask's signals: no app needed."""
    try:
        import flask
    except ImportError:  # not a functions-framework process
        return
    flask.request_started.connect(_request_started, weak=False)
    flask.request_tearing_down.connect(_request_ended, weak=False)
    # Installed while serving the process's first request (the store is built lazily): that
    # request's start was missed; approximate it by now.
    if flask.has_request_context():
        _local.started = time.perf_counter()


def _request_started(_sender: Any, **_extra: Any) -> None:
    _local.started = time.perf_counter()


def _request_ended(_sender: Any, **_extra: Any) -> None:
    started = getattr(_local, "started", None)
    _local.started = None
    elapsed_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    billed = math.ceil(elapsed_ms / BILLING_ROUNDING_MS) * BILLING_ROUNDING_MS
    with _lock:
        _counts["invocations"] += 1
        _counts["invocation_us"] += round(elapsed_ms * 1000)
        _counts["invocation_billed_ms"] += max(billed, BILLING_ROUNDING_MS)
    _dirty.set()


# --- the counters file -----------------------------------------------------------------------


def counters_path(directory: Path, pid: int) -> Path:
    return directory / f"{pid}.json"


def _flush_loop() -> None:
    while True:
        _dirty.wait()
        time.sleep(FLUSH_INTERVAL_S)  # let a burst of operations land in one write
        _dirty.clear()
        with contextlib.suppress(OSError):  # counting must never break the function
            _write_file()


def _write_file() -> None:
    if not _where:
        return
    pid = os.getpid()
    record = {
        "pid": pid,
        "pgid": os.getpgid(0),
        "target": os.environ.get("FUNCTION_TARGET", ""),
        "provider": os.environ.get("PROVIDER", ""),
        "written_at": time.time(),
        "counts": snapshot(),
    }
    path = counters_path(_where[0], pid)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
