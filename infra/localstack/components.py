"""What the local stack runs: one `Component` per process, derived from settings."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from infra.localstack.envs import base_url
from infra.localstack.errors import StackError
from infra.localstack.preflight import functions_framework
from infra.settings import Settings
from infra.topology import (
    FUNCTION_BATCHER,
    FUNCTION_CALLBACKS,
    FUNCTION_FINALIZER,
    FUNCTION_INGEST,
    FUNCTION_INGEST_EVENTS,
    FUNCTION_POLLER,
    FUNCTION_REPORT,
    FUNCTION_SWEEPER,
    worker_function,
)

PUBSUB = "pubsub"
FIRESTORE = "firestore"
SIMULATOR = "simulator"
STORAGE = "storage"
TRACE_COLLECTOR = "trace-collector"
EMULATORS = (PUBSUB, FIRESTORE, STORAGE)
PUBSUB_DATA_DIR = "pubsub-data"  # under the state dir: the emulator's env.yaml


@dataclass(frozen=True)
class Component:
    name: str
    argv: tuple[str, ...]
    port: int
    url: str  # base URL, e.g. http://127.0.0.1:8080
    probe_path: str  # GET url + probe_path tells whether it answers
    expect: str  # "Ok" (body), "200" (status) or "any" (any HTTP answer)
    provider: str | None = None  # workers: the PROVIDER they serve
    push_endpoint: str | None = None  # functions fed by a push subscription
    threads: int | None = None  # functions-framework THREADS, when the stack sets it

    @property
    def probe_url(self) -> str:
        return self.url + self.probe_path


@dataclass(frozen=True)
class FunctionSource:
    name: str
    source: str  # relative to the repository root
    target: str
    signature: str


def function_sources(settings: Settings) -> list[tuple[FunctionSource, int, str | None]]:
    """(function, port, provider) for every functions-framework server of the stack."""
    ingest = "functions/ingest/main.py"
    entries: list[tuple[FunctionSource, int, str | None]] = [
        (
            FunctionSource(FUNCTION_INGEST, ingest, "ingest_http", "http"),
            settings.ingest_port,
            None,
        ),
        (
            FunctionSource(FUNCTION_INGEST_EVENTS, ingest, "ingest_event", "cloudevent"),
            settings.ingest_events_port,
            None,
        ),
    ]
    for index, provider in enumerate(settings.providers):
        worker = FunctionSource(
            worker_function(provider), "functions/worker/main.py", "worker", "cloudevent"
        )
        entries.append((worker, settings.worker_base_port + index, provider))
    finalizer = FunctionSource(
        FUNCTION_FINALIZER, "functions/finalizer/main.py", "finalizer", "cloudevent"
    )
    entries.append((finalizer, settings.finalizer_port, None))
    sweeper = FunctionSource(FUNCTION_SWEEPER, "functions/sweeper/main.py", "sweeper", "cloudevent")
    entries.append((sweeper, settings.sweeper_port, None))
    report = FunctionSource(FUNCTION_REPORT, "functions/report/main.py", "report", "cloudevent")
    entries.append((report, settings.report_port, None))
    callbacks = FunctionSource(
        FUNCTION_CALLBACKS, "functions/callbacks/main.py", "callbacks", "cloudevent"
    )
    entries.append((callbacks, settings.callbacks_port, None))
    # The batch lane, both pushed by `batch-requests` (`aiexec batch flush`).
    batcher = FunctionSource(FUNCTION_BATCHER, "functions/batcher/main.py", "batcher", "cloudevent")
    entries.append((batcher, settings.batcher_port, None))
    poller = FunctionSource(FUNCTION_POLLER, "functions/poller/main.py", "poller", "cloudevent")
    entries.append((poller, settings.poller_port, None))
    return entries


def _make(
    settings: Settings,
    name: str,
    argv: tuple[str, ...],
    port: int,
    probe: tuple[str, str],
    *,
    provider: str | None = None,
    push: bool = False,
    threads: int | None = None,
) -> Component:
    url = base_url(settings, port)
    push_endpoint = url + "/" if push else None
    return Component(name, argv, port, url, probe[0], probe[1], provider, push_endpoint, threads)


def _emulators(settings: Settings, state_dir: Path) -> list[Component]:
    host = settings.host
    pubsub_argv = (
        "gcloud", "beta", "emulators", "pubsub", "start", "--quiet",
        f"--host-port={host}:{settings.pubsub_port}",
        f"--project={settings.project_id}",
        f"--data-dir={state_dir / PUBSUB_DATA_DIR}",
    )  # fmt: skip
    firestore_argv = (
        "gcloud", "emulators", "firestore", "start", "--quiet",
        f"--host-port={host}:{settings.firestore_port}",
    )  # fmt: skip
    # Cloud Storage: the PyPI emulator (a dev dependency), in memory like Firestore's; it
    # creates the stack's bucket itself before it answers, so no client call is needed.
    storage_argv = (
        sys.executable, "-m", "gcp_storage_emulator", "start", "--quiet", "--in-memory",
        "--host", host, "--port", str(settings.storage_port),
        "--default-bucket", settings.storage_bucket,
    )  # fmt: skip
    return [
        _make(settings, PUBSUB, pubsub_argv, settings.pubsub_port, ("/", "Ok")),
        _make(settings, FIRESTORE, firestore_argv, settings.firestore_port, ("/", "Ok")),
        _make(settings, STORAGE, storage_argv, settings.storage_port, ("/", "200")),
    ]


def _simulator(settings: Settings) -> Component:
    port = settings.simulator_port
    argv = (sys.executable, "-m", "infra.simulator", "--host", settings.host, "--port", str(port))
    return _make(settings, SIMULATOR, argv, port, ("/_sim/health", "200"))


def _trace_collector(settings: Settings) -> Component:
    port = settings.trace_collector_port
    argv = (
        sys.executable, "-m", "infra.trace_collector", "--host", settings.host, "--port", str(port),
    )  # fmt: skip
    return _make(settings, TRACE_COLLECTOR, argv, port, ("/health", "200"))


def _functions(settings: Settings, repo_root: Path) -> list[Component]:
    executable = functions_framework()
    components = []
    for fn, port, provider in function_sources(settings):
        if not (repo_root / fn.source).is_file():
            raise StackError(f"function source {fn.source} not found under {repo_root}")
        argv = (
            executable, "--source", fn.source, "--target", fn.target,
            "--signature-type", fn.signature, "--host", settings.host, "--port", str(port),
        )  # fmt: skip
        # http: GET /health must say 200; cloudevent: any HTTP answer (GET / → 4xx) means up
        http = fn.signature == "http"
        probe = ("/health", "200") if http else ("/", "any")
        # The HTTP ingest serves as many requests at once as deployed (its waits are capped
        # from THREADS: shared/waits.py); workers follow AIEXEC_WORKER_THREADS (envs.child_env).
        threads = settings.ingest_concurrency if fn.name == FUNCTION_INGEST else None
        made = _make(
            settings, fn.name, argv, port, probe, provider=provider, push=not http, threads=threads
        )
        components.append(made)
    return components


def stack_components(settings: Settings, state_dir: Path, repo_root: Path) -> list[Component]:
    """Every process of the stack, emulators first, then the simulator, the trace collector
    and the functions."""
    return [
        *_emulators(settings, state_dir),
        _simulator(settings),
        _trace_collector(settings),
        *_functions(settings, repo_root),
    ]
