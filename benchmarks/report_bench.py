"""Report cost against workload size, on the Firestore emulator: reads must not grow with tasks.

    .venv/bin/python benchmarks/report_bench.py [--sizes 1000 20000] [--shards 16]

Uses the emulator at FIRESTORE_EMULATOR_HOST (e.g. after `. .aiexec/local.env`), or starts a
private one. For each size, a fresh set of collections receives that many tasks over two weeks
(random providers, models, clients, retries, fallbacks, failures): their `usage` documents and
their rollup increments, written by the production code (`CallRecord.usage_document`,
`Rollups.record`), batched for speed (the final rollup state is the same as one write per
task). Then the week's report is built from the rollups, and — for contrast — the same week's
`usage` documents are scanned the naive way.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.settings import Settings
from shared.providers.base import Completion, TransientError
from shared.reports.period import iso_week
from shared.reports.service import ReportService
from shared.rollups import Rollups
from shared.usage import CallRecord

WEEK = "2021-W46"
MODELS = {"openai": ["gpt-6.1-terra", "gpt-6.2-sol", "gpt-6-luna"], "vertex": ["gemini-3.8-flash"]}
CLIENTS = [f"team-{n}" for n in range(8)]
BATCH_WRITES = 450  # under Firestore's 500 writes per batch


@dataclass
class Figures:
    tasks: int
    usage_docs: int
    rollup_docs: int
    report_reads: int
    report_s: float
    scan_reads: int
    scan_s: float


def _call(rng: random.Random, provider: str, at: datetime, ok: bool) -> CallRecord:
    model = rng.choice(MODELS[provider])
    ended = at + timedelta(milliseconds=rng.randint(200, 6000))
    if not ok:
        return CallRecord.failure(provider, model, at, ended, TransientError("unavailable", "503"))
    prompt, output = rng.randint(50, 3000), rng.randint(20, 1500)
    completion = Completion("t", model, "stop", prompt, output, prompt + output)
    return CallRecord.success(provider, model, at, ended, completion)


def _task(rng: random.Random, n: int, start: datetime) -> tuple[list[CallRecord], dict[str, Any]]:
    """One task's calls and its terminal document (≈8 % fallbacks, ≈2 % failures)."""
    at = start + timedelta(seconds=rng.randint(0, 14 * 86400 - 60))
    roll = rng.random()
    if roll < 0.90:
        calls = [_call(rng, "openai", at, True)]
    elif roll < 0.98:
        calls = [_call(rng, "openai", at, False), _call(rng, "vertex", at, True)]
    else:
        calls = [_call(rng, "openai", at, False), _call(rng, "vertex", at, False)]
    last = calls[-1]
    task = {
        "task_id": f"b{n}",
        "client_id": rng.choice(CLIENTS),
        "status": "succeeded" if last.outcome == "ok" else "failed",
        "chain": ["openai", "vertex"],
        "created_at": at,
        "attempts": [{"provider": c.provider, "model": c.model, "calls": 1} for c in calls],
        "result": {"provider": last.provider, "model": last.model}
        if last.outcome == "ok"
        else None,
        "error": None if last.outcome == "ok" else {"code": "all_providers_failed"},
    }
    return calls, task


def _batches(client: Any, settings: Settings, tasks: int, seed: int) -> Iterator[Any]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not security
    rollups = Rollups(settings)
    start = iso_week(WEEK, "UTC").previous().start
    batch, writes = client.batch(), 0
    for n in range(tasks):
        calls, task = _task(rng, n, start)
        docs = [
            c.usage_document(task["task_id"], task["client_id"], i + 1) for i, c in enumerate(calls)
        ]
        for i, doc in enumerate(docs):
            ref = client.collection(settings.collection_usage).document(f"b{n}-{i + 1}")
            batch.create(ref, doc)
        writes += len(docs) + rollups.record(batch, client, docs, task, calls[-1].ended_at)
        if writes >= BATCH_WRITES:
            yield batch
            batch, writes = client.batch(), 0
    if writes:
        yield batch


def _scan(client: Any, settings: Settings) -> tuple[int, float]:
    """What a report without rollups would read: every usage document of the week."""
    period = iso_week(WEEK, "UTC")
    began = time.perf_counter()
    query = (
        client.collection(settings.collection_usage)
        .where(filter=FieldFilter("created_at", ">=", period.start))
        .where(filter=FieldFilter("created_at", "<", period.end))
    )
    reads = sum(1 for _ in query.stream())
    return reads, time.perf_counter() - began


def measure(base: Settings, tasks: int, shards: int) -> Figures:
    suffix = f"bench-{tasks}-{time.time_ns()}"
    settings = base.model_copy(
        update={
            "collection_usage": f"usage-{suffix}",
            "collection_rollups": f"rollups-{suffix}",
            "rollup_shards": shards,
        }
    )
    client = firestore.Client(project=settings.project_id)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda batch: batch.commit(), _batches(client, settings, tasks, tasks)))
    service = ReportService(settings, client)
    began = time.perf_counter()
    report = service.build(iso_week(WEEK, "UTC")).report
    report_s = time.perf_counter() - began
    usage_docs = sum(1 for _ in client.collection(settings.collection_usage).select([]).stream())
    rollup_docs = sum(1 for _ in client.collection(settings.collection_rollups).select([]).stream())
    scan_reads, scan_s = _scan(client, settings)
    return Figures(
        tasks=tasks,
        usage_docs=usage_docs,
        rollup_docs=rollup_docs,
        report_reads=report["source"]["documents_read"],
        report_s=report_s,
        scan_reads=scan_reads,
        scan_s=scan_s,
    )


@contextmanager
def emulator() -> Iterator[None]:
    """The caller's emulator if FIRESTORE_EMULATOR_HOST is set, else a private one."""
    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        yield
        return
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["gcloud", "emulators", "firestore", "start", "--quiet", f"--host-port=127.0.0.1:{port}"]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # a readiness probe, bounded
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("the Firestore emulator did not start within 60 s")
        yield
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
        del os.environ["FIRESTORE_EMULATOR_HOST"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--shards", type=int, default=Settings().rollup_shards)
    args = parser.parse_args()
    header = (
        f"{'tasks':>7} {'usage docs':>11} {'rollup docs':>12} {'report reads':>13} "
        f"{'report time':>12} {'raw-scan reads':>15} {'raw-scan time':>14}"
    )
    with emulator():
        out = sys.stdout
        out.write(f"report of {WEEK} (+ the week before); {args.shards} rollup shards/day\n")
        out.write(header + "\n")
        for size in args.sizes:
            f = measure(Settings(), size, args.shards)
            out.write(
                f"{f.tasks:>7,} {f.usage_docs:>11,} {f.rollup_docs:>12,} {f.report_reads:>13,} "
                f"{f.report_s:>10.2f} s {f.scan_reads:>15,} {f.scan_s:>12.2f} s\n"
            )
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
