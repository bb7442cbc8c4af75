"""Each function bundle holds only its function and the runtime (no client, CLI, simulator,
local stack, deploy planner or benchmarks), pins its requirements with the lock's hashes, and,
installed into an empty virtual environment from its own requirements.txt only, imports and
serves its entry point through functions-framework, against the session's emulators and
simulator (in a project of its own), and really does its job."""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiexec.cli.webhook_receiver import Receiver
from aiexec.client.webhooks import verify
from infra import bundles
from infra.localstack.envs import LOCAL_CALLBACK_ENV, LOCAL_CALLBACK_SECRET
from infra.pubsub_apply import apply_topology
from infra.settings import Settings
from infra.topology import Topic, Topology
from shared.bus import Bus
from shared.events import CALLBACK_ATTRIBUTE
from shared.ingest import Ingest
from shared.providers.registry import known_providers
from shared.store import TaskStore
from tests.deploy.conftest import InstalledBundle, clean_env

START_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def isolated(stack: Any) -> Settings:
    """A project of its own on the session's emulators, with the topics functions publish to."""
    project = f"demo-bundles-{time.time_ns()}"
    settings = Settings(project_id=project)
    names = [
        *(settings.provider_topic(p) for p in settings.providers),
        settings.topic_dead,
        settings.topic_results,
    ]
    apply_topology(Topology(topics=tuple(Topic(name=n) for n in names), subscriptions=()), project)
    return settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(bundle: InstalledBundle, target: str, env: dict[str, str], tmp: Path) -> Iterator[str]:
    """functions-framework from the bundle directory, its venv only; yields the base URL."""
    port = _free_port()
    log = tmp / f"{bundle.name}-{target}.log"
    argv = [str(bundle.functions_framework), "--target", target, "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=bundle.source, env=clean_env(env), stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{bundle.name} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(url + "/", timeout=1.0)
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{bundle.name} did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def push_body(data: dict[str, Any], **attributes: str) -> dict[str, Any]:
    """What a Pub/Sub push subscription POSTs to the function."""
    encoded = base64.b64encode(json.dumps(data).encode()).decode()
    return {
        "message": {"data": encoded, "attributes": attributes,
                    "messageId": uuid.uuid4().hex[:12],
                    "publishTime": "2026-01-05T08:00:00Z"},
        "subscription": "projects/demo/subscriptions/bundle-test",
    }  # fmt: skip


def function_env(stack: Any, settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in stack.env.items() if k != "GOOGLE_CLOUD_PROJECT"}
    return env | {"GOOGLE_CLOUD_PROJECT": settings.project_id, "MPLCONFIGDIR": "/tmp"} | extra


def submit(settings: Settings, **request: Any) -> str:
    ingest = Ingest(settings, TaskStore(settings), Bus(settings))
    body = json.dumps({"task_description": "Bundle test: say hi", **request}).encode()
    return str(ingest.submit(ingest.parse(body), "bundle-test").task["task_id"])


# What a bundle may hold at its root; everything else is tooling that must not be uploaded.
BUNDLE_ROOT = {"main.py", "shared", "requirements.txt", ".gcloudignore"}
# Our top-level packages: only `shared` (the runtime) may be in a bundle or imported by one.
OUR_PACKAGES = {"shared", "aiexec", "infra", "benchmarks", "functions", "tests"}
# Folders the tooling lived in before it left shared/ (issue 14): none may come back.
TOOLING_FOLDERS = {"cli", "client", "simulator", "localstack", "deploy", "benchmarks"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every bundle, a worker for each registered provider, built once for the module's tests."""
    every_provider = Settings(providers=known_providers())
    return bundles.build_all(every_provider, tmp_path_factory.mktemp("built"))


def _imported_roots(path: Path) -> set[str]:
    """The top-level package of every absolute import in `path` (relative ones stay inside)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def _imported_names(path: Path) -> set[str]:
    """Every module `path` imports by its absolute name, lazily inside a function too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {
        n.module
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and not n.level
    }


def test_a_bundle_holds_only_its_function_and_the_runtime(built: dict[str, Path]) -> None:
    for name, directory in built.items():
        files = [p for p in directory.rglob("*") if p.is_file()]
        assert {p.name for p in directory.iterdir()} <= BUNDLE_ROOT, name
        folders = {part for p in files for part in p.relative_to(directory).parts[:-1]}
        assert not folders & (OUR_PACKAGES - {"shared"}), (name, folders & OUR_PACKAGES)
        assert not folders & TOOLING_FOLDERS, (name, folders & TOOLING_FOLDERS)
        for module in (p for p in files if p.suffix == ".py"):
            ours = _imported_roots(module) & OUR_PACKAGES
            assert ours <= {"shared"}, f"{name}/{module.relative_to(directory)} imports {ours}"


# The distributions' import names that must not load in the callbacks function: it publishes
# nothing and POSTs with http.client.
NOT_IN_CALLBACKS = ("google.cloud.pubsub_v1", "httpx", "openai", "anthropic", "google.genai")


def test_the_callbacks_bundle_lists_exactly_what_its_function_imports() -> None:
    """Its top-level requirements are the base minus Pub/Sub, and loading the function and
    composing its service (what the first delivery does) imports each of them and nothing of
    what it leaves out."""
    [bundle] = [b for b in bundles.bundles(Settings()) if b.name == "callbacks"]
    assert set(bundle.requirements) == set(bundles.BASE_REQUIREMENTS) - {"google-cloud-pubsub"}
    probe = (
        "import runpy, sys; runpy.run_path('functions/callbacks/main.py');"
        "from shared.compose.callbacks import callbacks_service; callbacks_service();"
        "print(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=bundles.REPO_ROOT,
                          capture_output=True, text=True, check=True)  # fmt: skip
    loaded = set(done.stdout.split())
    imports = {"functions-framework": "functions_framework", "jsonschema": "jsonschema",
               "google-cloud-firestore": "google.cloud.firestore_v1", "pydantic": "pydantic",
               "pydantic-settings": "pydantic_settings",
               "opentelemetry-sdk": "opentelemetry.sdk.trace"}  # fmt: skip
    # Imported when spans go to Cloud Trace (deployed: AIEXEC_TRACE_EXPORTER=cloud_trace), whose
    # exporter needs Google credentials to be made, which a test machine does not have.
    deployed_only = {"opentelemetry-exporter-gcp-trace": "opentelemetry.exporter.cloud_trace"}
    assert set(imports) | set(deployed_only) == set(bundle.requirements)
    assert set(imports.values()) <= loaded
    tracing_imports = _imported_names(bundles.REPO_ROOT / "shared" / "tracing.py")
    assert set(deployed_only.values()) <= tracing_imports
    assert not loaded & set(NOT_IN_CALLBACKS)


def test_bundle_sizes_are_printed(built: dict[str, Path]) -> None:
    """Files and bytes each function uploads (`pytest -s` shows them)."""
    print(f"\n{'bundle':<16} {'files':>6} {'bytes':>10}")
    for name, directory in built.items():
        files = [p for p in directory.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        assert files and size > 0, name
        print(f"{name:<16} {len(files):>6} {size:>10}")


def test_requirements_are_exactly_each_functions_own(built: dict[str, Path]) -> None:
    def names(bundle: str) -> set[str]:
        text = (built[bundle] / "requirements.txt").read_text()
        return {bundles.normalize(entry[0].split("==")[0])
                for entry in bundles.requirement_entries(text)}  # fmt: skip

    assert {"openai", "google-genai", "matplotlib"}.isdisjoint(names("ingest"))
    assert "openai" in names("worker-openai") and "google-genai" not in names("worker-openai")
    assert "google-genai" in names("worker-vertex") and "openai" not in names("worker-vertex")
    assert "matplotlib" in names("report") and "openai" not in names("report")
    assert "google-cloud-aiplatform" not in set().union(*(names(b) for b in built))
    callbacks = names("callbacks")
    assert "jsonschema" in callbacks and "google-cloud-firestore" in callbacks
    assert {"google-cloud-pubsub", "httpx", "openai", "google-genai"}.isdisjoint(callbacks)
    for directory in built.values():
        assert (directory / "main.py").is_file()
        assert (directory / "shared" / "data" / "models.json").is_file()


_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)")


def _lock_hashes() -> dict[tuple[str, str], set[str]]:
    """(name, version) → the SHA-256 of every distribution uv.lock records for it."""
    hashes: dict[tuple[str, str], set[str]] = {}
    for package in bundles.load_lock()["package"]:
        files = [package.get("sdist"), *package.get("wheels", [])]
        key = (bundles.normalize(package["name"]), str(package.get("version")))
        hashes.setdefault(key, set()).update(
            f["hash"].removeprefix("sha256:") for f in files if f and "hash" in f
        )
    return hashes


def test_every_requirement_is_pinned_with_the_hashes_of_the_lock(built: dict[str, Path]) -> None:
    """Each bundle's requirements.txt pins every distribution and lists its hashes from
    uv.lock, so the function build's pip installs in hash-checking mode; a requirement the
    export gives without a hash is an error, not a silent unhashed line."""
    lock = bundles.load_lock()
    known = _lock_hashes()
    for name, directory in built.items():
        entries = bundles.requirement_entries((directory / "requirements.txt").read_text())
        assert entries, name
        for entry in entries:
            match = _PINNED.match(entry[0])
            assert match, entry[0]  # pinned with ==
            listed = {line.strip().rstrip(" \\").removeprefix(bundles.HASH_OPTION)
                      for line in entry[1:]}  # fmt: skip
            assert all(line.strip().startswith(bundles.HASH_OPTION) for line in entry[1:])
            package = (bundles.normalize(match.group(1)), match.group(2))
            assert listed and listed <= known[package], (name, entry[0])
    ingest = bundles.bundles(Settings())[0]
    with pytest.raises(ValueError, match="annotated-types: no hash"):
        bundles.requirements_text(ingest, lock, "annotated-types==0.8.0\n")


@pytest.mark.slow  # a venv and two pip installs
def test_pip_refuses_a_distribution_whose_hash_differs(tmp_path: Path) -> None:
    """What the function build's pip does with the bundle's hashes: the requirement as
    exported installs; the same one with a hash that is not the download's is refused."""
    entries = bundles.requirement_entries(bundles.uv_export())
    entry = next(e for e in entries if e[0].startswith("annotated-types=="))
    good = "\n".join(entry) + "\n"
    bad = re.sub(r"sha256:([0-9a-f])", lambda m: "sha256:" + "0123456789abcdef"[
        (int(m.group(1), 16) + 1) % 16], good)  # fmt: skip
    assert bad != good
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    pip = [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--no-deps", "--no-cache-dir", "--disable-pip-version-check"]  # fmt: skip
    for text, name in ((bad, "bad.txt"), (good, "good.txt")):
        (tmp_path / name).write_text(text)
    refused = subprocess.run([*pip, "-r", str(tmp_path / "bad.txt")], capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stderr, refused.stderr[-2000:]
    subprocess.run([*pip, "-r", str(tmp_path / "good.txt")], check=True)


def test_ingest_serves_health(
    installed_bundles: dict[str, InstalledBundle], stack: Any, isolated: Settings, tmp_path: Path
) -> None:
    env = function_env(stack, isolated)
    with serve(installed_bundles["ingest"], "ingest_http", env, tmp_path) as url:
        response = httpx.get(url + "/health", timeout=20)
    assert response.status_code == 200, response.text
    providers = {p["name"]: p for p in response.json()["providers"]}
    assert set(providers) == {"openai", "vertex"}


@pytest.mark.parametrize("provider", ["openai", "vertex"])
def test_worker_runs_a_task_with_its_own_sdk(
    installed_bundles: dict[str, InstalledBundle],
    stack: Any,
    isolated: Settings,
    tmp_path: Path,
    provider: str,
) -> None:
    task_id = submit(isolated, providers=[provider])
    env = function_env(stack, isolated, PROVIDER=provider)
    message = {"v": 1, "task_id": task_id, "chain": [provider], "hop": 0}
    with serve(installed_bundles[f"worker-{provider}"], "worker", env, tmp_path) as url:
        response = httpx.post(url + "/", json=push_body(message), timeout=60)
    assert response.status_code < 300, response.text
    task = TaskStore(isolated).get(task_id) or {}
    assert task.get("status") == "succeeded", task
    assert task["result"]["provider"] == provider


def test_finalizer_fails_a_dead_task(
    installed_bundles: dict[str, InstalledBundle], stack: Any, isolated: Settings, tmp_path: Path
) -> None:
    task_id = submit(isolated)
    message = {"v": 1, "task_id": task_id, "chain": isolated.providers, "hop": 2}
    with serve(installed_bundles["finalizer"], "finalizer", function_env(stack, isolated),
               tmp_path) as url:  # fmt: skip
        response = httpx.post(url + "/", json=push_body(message), timeout=60)
    assert response.status_code < 300, response.text
    assert (TaskStore(isolated).get(task_id) or {}).get("status") == "failed"


def test_sweeper_sweeps(
    installed_bundles: dict[str, InstalledBundle], stack: Any, isolated: Settings, tmp_path: Path
) -> None:
    with serve(installed_bundles["sweeper"], "sweeper", function_env(stack, isolated),
               tmp_path) as url:  # fmt: skip
        response = httpx.post(url + "/", json=push_body({}), timeout=60)
    assert response.status_code < 300, response.text


def test_report_renders_and_stores_the_weekly_report(
    installed_bundles: dict[str, InstalledBundle], stack: Any, isolated: Settings, tmp_path: Path
) -> None:
    with serve(installed_bundles["report"], "report", function_env(stack, isolated),
               tmp_path) as url:  # fmt: skip
        response = httpx.post(url + "/", json=push_body({}), timeout=120)
    assert response.status_code < 300, response.text
    reports = list(TaskStore(isolated).client.collection(isolated.collection_reports).stream())
    assert reports, "the report function wrote no report"


def test_callbacks_posts_a_finished_task_signed(
    installed_bundles: dict[str, InstalledBundle], stack: Any, isolated: Settings, tmp_path: Path
) -> None:
    """The callbacks bundle, from its own requirements only, signs and POSTs a task the
    finalizer bundle ended to a local receiver, and records the delivery on the task."""
    receiver = Receiver(0).start()
    try:
        local = isolated.model_copy(update={"callback_allow_private": True})
        task_id = submit(local, callback_url=receiver.url)
        dead = {"v": 1, "task_id": task_id, "chain": isolated.providers, "hop": 2}
        with serve(installed_bundles["finalizer"], "finalizer", function_env(stack, isolated),
                   tmp_path) as url:  # fmt: skip
            assert httpx.post(url + "/", json=push_body(dead), timeout=60).status_code < 300
        task = TaskStore(isolated).get(task_id) or {}
        event = {"task_id": task_id, "doc_id": task_id, "client_id": task.get("client_id", ""),
                 "status": "failed"}  # fmt: skip
        env = function_env(stack, isolated, **LOCAL_CALLBACK_ENV)
        with serve(installed_bundles["callbacks"], "callbacks", env, tmp_path) as url:
            marked = push_body(event, **{CALLBACK_ATTRIBUTE: "1"})  # as results.py marks it
            response = httpx.post(url + "/", json=marked, timeout=60)
        assert response.status_code < 300, response.text
        [posted] = receiver.for_task(task_id)
        view = verify(LOCAL_CALLBACK_SECRET, posted.headers, posted.body)
        assert view["status"] == "failed"
        record = (TaskStore(isolated).get(task_id) or {})["callback"]
        assert record["status"] == "delivered" and record["webhook_id"] == posted.headers[
            "webhook-id"]  # fmt: skip
    finally:
        receiver.stop()
