"""The floor's functions beside a running `LocalStack`: same emulators, same push delivery.

Three functions-framework servers (`benchmarks/floor/main.py`) and their topics and push
subscriptions, applied with the pipeline's own topology code (same ack deadline and retry
policy as the pipeline's handlers; no dead-letter policy, which the happy path never touches).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from benchmarks.floor.main import TOPIC_IN, TOPIC_RESULTS, TOPIC_WORK
from infra.localstack import LocalStack, StackError, free_port_settings
from infra.localstack.envs import base_url, child_env
from infra.localstack.preflight import functions_framework
from infra.localstack.procs import POLL_INTERVAL_S, probe, spawn, stop_groups, tail
from infra.pubsub_apply import apply_topology
from infra.topology import (
    HANDLER_ACK_DEADLINE_S,
    LOCAL_RETRY,
    Subscription,
    Topic,
    Topology,
)

SOURCE = "benchmarks/floor/main.py"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class FloorFunction:
    name: str
    target: str
    signature: str
    worker: bool = False  # gets the workers' thread count, as the pipeline's worker does


FUNCTIONS = (
    FloorFunction("floor-ingest-events", "floor_ingest_event", "cloudevent"),
    FloorFunction("floor-ingest", "floor_ingest_http", "http"),
    FloorFunction("floor-worker", "floor_worker", "cloudevent", worker=True),
)


class FloorStack:
    """Start with `start()` after the `LocalStack`; `stop()` before it."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.urls: dict[str, str] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def pgids(self) -> dict[str, int]:
        """name → process group (each server runs in its own, led by the process we started)."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def start(self) -> None:
        settings = self.stack.settings
        # Free ports picked the way the test stack picks them (outside the ephemeral range).
        spare = free_port_settings(settings)
        ports = (spare.ingest_events_port, spare.ingest_port, spare.finalizer_port)
        try:
            for function, port in zip(FUNCTIONS, ports, strict=True):
                self._spawn(function, port)
            self._wait_ready()
            self._apply_topology()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop_groups([p.pid for p in self._procs.values()], children=self._procs.values())
        self._procs.clear()

    def _spawn(self, function: FloorFunction, port: int) -> None:
        settings = self.stack.settings
        env = child_env(settings, self.stack.repo_root)
        if function.worker and settings.worker_threads is not None:
            env["THREADS"] = str(settings.worker_threads)
        argv = [
            functions_framework(), "--source", SOURCE, "--target", function.target,
            "--signature-type", function.signature, "--host", settings.host, "--port", str(port),
        ]  # fmt: skip
        log = self.stack.function_log(function.name)
        self._procs[function.name] = spawn(argv, cwd=self.stack.repo_root, env=env, log=log)
        self.urls[function.name] = base_url(settings, port)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = {f.name: "200" if f.signature == "http" else "any" for f in FUNCTIONS}
        while pending:
            for name, expect in list(pending.items()):
                if self._procs[name].poll() is not None:
                    log = self.stack.function_log(name)
                    raise StackError(f"{name} exited; last lines of {log}:\n{tail(log)}")
                if probe(self.urls[name] + "/", expect):
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise StackError(f"floor functions not ready: {', '.join(pending)}")
            if pending:
                time.sleep(POLL_INTERVAL_S)

    def _apply_topology(self) -> None:
        def push(name: str, topic: str, function: str) -> Subscription:
            return Subscription(
                name=name,
                topic=topic,
                push_endpoint=self.urls[function] + "/",
                ack_deadline_s=HANDLER_ACK_DEADLINE_S,
                min_backoff_s=LOCAL_RETRY.min_backoff_s,
                max_backoff_s=LOCAL_RETRY.max_backoff_s,
            )

        topology = Topology(
            topics=(Topic(name=TOPIC_IN), Topic(name=TOPIC_WORK), Topic(name=TOPIC_RESULTS)),
            subscriptions=(
                push(f"{TOPIC_IN}-ingest", TOPIC_IN, "floor-ingest-events"),
                push(f"{TOPIC_WORK}-worker", TOPIC_WORK, "floor-worker"),
                # Like `task-results-audit`: the completion events are kept for a reader.
                Subscription(name=f"{TOPIC_RESULTS}-audit", topic=TOPIC_RESULTS),
            ),
        )
        settings = self.stack.settings
        apply_topology(
            topology,
            settings.project_id,
            emulator_host=f"{settings.host}:{settings.pubsub_port}",
        )
