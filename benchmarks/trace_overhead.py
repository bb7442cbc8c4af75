"""What tracing costs a task: the spans of a task that falls back (ingest, two hops, three failed
calls and their two back-offs, the answer, the completion: 10 spans, 3 entry spans, so 3 exports),
made by the runtime's own code (shared/tracing.py, shared/call_spans.py), without export and
exported over OTLP/HTTP to the local stack's collector (run in this process).

    .venv/bin/python -m benchmarks.trace_overhead [--tasks N]

Each mode runs in a process of its own (a process sets up its tracer provider once).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any

from infra.trace_collector import SpanStore, make_handler
from shared import call_spans, tracing
from shared.settings_tracing import TracingSettings
from shared.usage import CallRecord

MODES = ("none", "otlp")
WARM_UP = 50


def _fallback_task() -> None:
    """One task's spans, as ingest, worker-openai and worker-vertex make them."""
    now = datetime.now(UTC)
    failed = CallRecord(
        "openai", "m", now, now + timedelta(milliseconds=3), "transient", {"code": "unavailable"}
    )
    ok = CallRecord("vertex", "g", now, now + timedelta(milliseconds=3), "ok", None, {"t": 9})
    with tracing.entry_span("ingest", task_id="t"):
        carrier = tracing.inject()
        tracing.task_trace()
    with tracing.entry_span("worker-openai", carrier, task_id="t", hop=0):
        for attempt in (1, 2, 3):
            call_spans.record_call(failed, attempt)
            if attempt < 3:
                with call_spans.backoff(0.0, attempt):
                    pass
        carrier = tracing.inject()
    with tracing.entry_span("worker-vertex", carrier, task_id="t", hop=1):
        call_spans.record_call(ok, 1)
        with tracing.span("task.completed", status="succeeded"):
            tracing.inject()


def measure(mode: str, tasks: int) -> dict[str, Any]:
    """Milliseconds per task (median, p95) in this process, exporting as `mode` says."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(SpanStore()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    try:
        tracing.setup("bench", TracingSettings(trace_exporter=mode, trace_otlp_endpoint=endpoint))
        for _ in range(WARM_UP):
            _fallback_task()
        times = []
        for _ in range(tasks):
            started = time.perf_counter()
            _fallback_task()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        server.shutdown()
        server.server_close()
    times.sort()
    median = times[len(times) // 2]
    return {
        "mode": mode,
        "tasks": tasks,
        "median_ms": median,
        "p95_ms": times[len(times) * 95 // 100],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one process per mode
    args = parser.parse_args(argv)
    if args.mode:
        sys.stdout.write(json.dumps(measure(args.mode, args.tasks)) + "\n")
        return
    for mode in MODES:
        command = [sys.executable, "-m", "benchmarks.trace_overhead", "--mode", mode]
        command += ["--tasks", str(args.tasks)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result = json.loads(out)
        sys.stdout.write(
            f"export {mode:<5} per task: median {result['median_ms']:.2f} ms, "
            f"p95 {result['p95_ms']:.2f} ms ({result['tasks']} tasks of 10 spans, 3 entry spans)\n"
        )


if __name__ == "__main__":
    main()
