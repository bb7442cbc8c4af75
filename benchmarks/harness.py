"""The benchmark's harness: a private local stack with operation counting on, the floor's
functions beside it, and the clients and targets the measurements use."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import scenarios
from benchmarks.batch import Completions, http_submitter, pubsub_submitter
from benchmarks.floor import main as floor
from benchmarks.floorstack import FloorStack
from benchmarks.peer import PeerConfig
from benchmarks.scenarios import Probe, Target
from benchmarks.stats import Figures
from infra.chaos import ChaosRunner
from infra.localstack import LocalStack, read_state
from infra.localstack.components import EMULATORS, SIMULATOR
from infra.localstack.ports import free_port_settings
from infra.settings import Settings

# Variables that would change what is measured (a user's overrides, a running stack's
# connection settings, a real provider): hidden from the benchmark and its stack.
_HIDDEN_PREFIXES = ("AIEXEC_",)
_HIDDEN = (
    *("GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "PROVIDER"),
    *("OPENAI_API_KEY", "OPENAI_BASE_URL", "THREADS", "WORKERS"),
)
REPO_ROOT = Path(__file__).resolve().parents[1]
# A killed worker's tasks wait out their lease (provider timeout x attempts + margin: 120 s by
# default) and those it had not leased yet their ack deadline or the sweeper's requeue (120 s)
# before they are taken over; the crash measurement shortens both (35 s, 20 s) to fit the
# benchmark's time. At 0-1 s provider latency no call comes near the 10 s timeout.
CRASH_RECOVERY = {
    "openai_timeout_s": 10.0,
    "vertex_timeout_s": 10.0,
    "lease_margin_s": 5.0,
    "requeue_after_s": 20.0,
}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    tasks: int = 1000
    repeat: int = 3
    singles: int = 10  # single tasks per target and path per repeat
    latency_tasks: int | None = None  # default: tasks // 4
    worker_threads: int = 32
    provider_latency_ms: float = 800.0
    provider_jitter_ms: float = 200.0
    state_dir: Path = REPO_ROOT / ".aiexec" / "bench"
    repo_root: Path = REPO_ROOT
    warmup: bool = True
    peer: bool = True  # LiteLLM's Router beside the pipeline (the `bench` dependency group)
    batch_tasks: int = 10_000  # the batch lane's measurement (benchmarks/batch_lane.py); 0: none

    @property
    def n_latency(self) -> int:
        return self.latency_tasks if self.latency_tasks is not None else max(1, self.tasks // 4)


def stderr_progress(message: str) -> None:
    sys.stderr.write(f"[bench {datetime.now():%H:%M:%S}] {message}\n")
    sys.stderr.flush()


@contextmanager
def _clean_environ() -> Iterator[None]:
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_HIDDEN_PREFIXES) or name in _HIDDEN:
            del os.environ[name]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Bench:
    options: Options
    stack: LocalStack
    floor: FloorStack
    probe: Probe
    targets: dict[str, Target]
    primary: str
    progress: Progress
    peer: PeerConfig

    def timeout_s(self, n: int) -> float:
        return 120.0 + 0.5 * n

    def singles(self, target: str, via: str, tag: str) -> Figures:
        count = self.options.singles
        self.progress(f"{tag}: {target} via {via}, {count} single tasks ...")
        return scenarios.measure_singles(
            self.probe, self.targets[target], via, count=count, tag=tag, timeout_s=self.timeout_s(1)
        )

    def batch(self, target: str, via: str, n: int, tag: str) -> tuple[Figures, Any]:
        self.progress(f"{tag}: {target} via {via}, {n} tasks ...")
        slug = "-".join(tag.split())  # part of the task ids: letters, digits, '-'
        figures, run = scenarios.measure_batch(
            self.probe, self.targets[target], via, n=n, tag=slug, timeout_s=self.timeout_s(n)
        )
        tput = figures["throughput"]
        rate = f"{tput:.1f} tasks/s" if tput else f"{figures['lost']} lost"
        self.progress(f"{tag}: {target} via {via}: {rate}, p50 {figures['latency_p50_ms']} ms")
        return figures, run


@contextmanager
def running_bench(options: Options, progress: Progress) -> Iterator[Bench]:
    """The private stack (operation counting on), the floor beside it, and the clients."""
    with _clean_environ():
        counters = (options.state_dir / "counters").resolve()
        for stale in counters.glob("*.json"):  # a previous run's processes
            stale.unlink()
        settings = free_port_settings(
            Settings(
                count_operations_dir=str(counters), worker_threads=options.worker_threads
            ).model_copy(update=CRASH_RECOVERY)
        )
        stack = LocalStack(settings, options.state_dir / "stack", options.repo_root)
        progress("starting the local stack (emulators, simulator, functions) ...")
        stack.start()
        floor_stack = FloorStack(stack)
        try:
            os.environ.update(stack.env)  # this process's clients talk to this stack
            as_filtered_in_production(settings)
            floor_stack.start()
            with _clients(options, stack, floor_stack, progress) as bench:
                yield bench
        finally:
            progress("stopping the stack ...")
            floor_stack.stop()
            stack.stop()


def as_filtered_in_production(settings: Settings) -> None:
    """Remove the callbacks function's subscription: in production its filter passes only the
    completion events of tasks with a `callback_url` (none of the benchmark's), but the Pub/Sub
    emulator ignores subscription filters and would push every completion to the function —
    an invocation per task that production does not make."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    subscriber = pubsub_v1.SubscriberClient()
    try:
        path = subscriber.subscription_path(
            settings.project_id, f"{settings.topic_results}-callbacks"
        )
        subscriber.delete_subscription(request={"subscription": path})
    finally:
        subscriber.close()


@contextmanager
def _clients(
    options: Options, stack: LocalStack, floor_stack: FloorStack, progress: Progress
) -> Iterator[Bench]:
    settings = stack.settings
    client_settings = settings.model_copy(update={"count_operations_dir": None})
    runner = ChaosRunner(client_settings, stack.url("simulator"))
    runner.reset()
    state = read_state(stack.state_dir)
    if state is None:
        raise RuntimeError(f"the local stack wrote no pids file under {stack.state_dir}")
    groups = {p.name: p.pgid for p in state.processes} | floor_stack.pgids
    probe = Probe(Path(settings.count_operations_dir or "."), groups, runner)
    probe.subscriptions = _subscriptions(stack)
    http = httpx.Client(timeout=60.0, limits=httpx.Limits(max_connections=32))
    targets = _targets(stack, floor_stack, runner, http, groups)
    peer = PeerConfig(
        simulator=stack.url("simulator").rstrip("/"),
        project=settings.vertex_project or settings.project_id,
        concurrency=options.worker_threads,
        work_dir=options.state_dir / "peer",
        location=settings.vertex_location,
    )
    try:
        yield Bench(
            options, stack, floor_stack, probe, targets, settings.providers[0], progress, peer
        )
    finally:
        http.close()
        for target in targets.values():
            target.completions.close()


def _targets(
    stack: LocalStack,
    floor_stack: FloorStack,
    runner: ChaosRunner,
    http: httpx.Client,
    groups: dict[str, int],
) -> dict[str, Target]:
    """The floor and the pipeline: how to submit to each, where their completions arrive, and
    which processes are theirs (every stack function but the emulators and the simulator)."""
    settings, project, tag = stack.settings, stack.settings.project_id, os.getpid()
    own = set(EMULATORS) | {SIMULATOR} | set(floor_stack.pgids)
    floor_target = Target(
        "floor",
        floor.COLLECTION,
        Completions(project, floor.TOPIC_RESULTS, f"bench-floor-results-{tag}"),
        {
            "topic": pubsub_submitter(runner.bus, floor.TOPIC_IN),
            "http": http_submitter(http, floor_stack.urls["floor-ingest"] + "/"),
        },
        floor.TOPIC_IN,
        sorted(floor_stack.pgids),
    )
    pipeline_target = Target(
        "pipeline",
        settings.collection_tasks,
        Completions(project, settings.topic_results, f"bench-results-{tag}"),
        {
            "topic": pubsub_submitter(runner.bus, settings.topic_tasks),
            "http": http_submitter(http, stack.url("ingest") + "/tasks"),
        },
        settings.topic_tasks,
        sorted(name for name in groups if name not in own),
    )
    return {"floor": floor_target, "pipeline": pipeline_target}


def _subscriptions(stack: LocalStack) -> dict[str, int]:
    """topic → how many subscriptions deliver each of its messages (pipeline and floor)."""
    counts: dict[str, int] = {floor.TOPIC_IN: 1, floor.TOPIC_WORK: 1, floor.TOPIC_RESULTS: 1}
    for sub in stack.topology.subscriptions if stack.topology else ():
        counts[sub.topic] = counts.get(sub.topic, 0) + 1
    return counts


def production_push(bench: Bench) -> tuple[dict[str, str], dict[str, int]]:
    """The subscriptions of the happy path (ingest, the primary's worker), their endpoints and
    the concurrency their functions serve (see `benchmarks.pushproxy` for why)."""
    settings = bench.stack.settings
    topology = bench.stack.topology
    serving = {settings.topic_tasks: 4 * (os.cpu_count() or 1)}  # functions-framework default
    serving[settings.provider_topic(bench.primary)] = bench.options.worker_threads
    endpoints, concurrency = {}, {}
    for sub in topology.subscriptions if topology else ():
        if sub.topic in serving and sub.push_endpoint:
            endpoints[sub.name] = sub.push_endpoint
            concurrency[sub.name] = serving[sub.topic]
    return endpoints, concurrency
