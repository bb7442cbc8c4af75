"""The local stack: readiness, state files, crash/restart, clear errors, and the `aiexec` CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from infra.localstack import (
    ENV_FILE,
    PIDS_FILE,
    LocalStack,
    StackError,
    check_ports,
    check_tools,
    free_port_settings,
    port_uses,
    settings_env,
)
from infra.localstack.preflight import java_major
from infra.localstack.procs import group_alive, probe
from infra.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s}s")
        time.sleep(0.1)


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            pairs[name] = value
    return pairs


# --- the session stack -------------------------------------------------------------------


def test_every_part_answers(stack: Any) -> None:
    local: LocalStack = stack.stack
    assert local.answering() == dict.fromkeys(local.components, True)
    assert set(local.components) == {
        "pubsub",
        "firestore",
        "storage",
        "simulator",
        "trace-collector",
        "ingest",
        "ingest-events",
        "worker-openai",
        "worker-vertex",
        "finalizer",
        "sweeper",
        "report",
        "callbacks",
        "batcher",
        "poller",
    }
    assert httpx.get(f"{stack.ingest_url}/health", timeout=10).status_code == 200
    assert httpx.get(f"{stack.simulator_url}/_sim/health", timeout=10).status_code == 200


def test_connection_settings_reach_the_test_process(stack: Any) -> None:
    settings = get_settings()
    assert settings.pubsub_emulator_host == stack.env["PUBSUB_EMULATOR_HOST"]
    assert settings.firestore_emulator_host == stack.env["FIRESTORE_EMULATOR_HOST"]
    assert settings.ingest_url == stack.ingest_url
    assert settings.simulator_url == stack.simulator_url
    assert os.environ["GOOGLE_CLOUD_PROJECT"] == settings.project_id == "demo-aiexec"


def test_local_env_and_pids_file_are_written(stack: Any) -> None:
    local: LocalStack = stack.stack
    exported = read_env_file(local.state_dir / ENV_FILE)
    for name in (
        "PUBSUB_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
        "STORAGE_EMULATOR_HOST",
        "GOOGLE_CLOUD_PROJECT",
        "AIEXEC_INGEST_URL",
        "AIEXEC_SIMULATOR_URL",
    ):
        assert exported[name] == stack.env[name]
    assert exported["AIEXEC_PUBSUB_PORT"] == str(stack.settings.pubsub_port)
    pids = json.loads((local.state_dir / PIDS_FILE).read_text())
    assert {p["name"] for p in pids["processes"]} == set(local.components)
    for record in pids["processes"]:
        assert Path(record["log"]) == local.function_log(record["name"])
        assert group_alive(record["pgid"])


def process_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_functions_see_the_stack_settings(stack: Any) -> None:
    pids = json.loads((stack.stack.state_dir / PIDS_FILE).read_text())["processes"]
    by_name = {p["name"]: p["pid"] for p in pids}
    worker = process_environ(by_name["worker-vertex"])
    assert (worker["PROVIDER"], worker["AIEXEC_PROVIDER"]) == ("vertex", "vertex")
    for name, value in stack.env.items():
        assert worker[name] == value
    assert worker["PYTHONPATH"].split(os.pathsep)[0] == str(REPO_ROOT)
    finalizer = process_environ(by_name["finalizer"])
    assert "PROVIDER" not in finalizer and "AIEXEC_PROVIDER" not in finalizer


def test_a_killed_function_can_be_restarted(stack: Any) -> None:
    local: LocalStack = stack.stack
    url = local.components["finalizer"].probe_url
    local.kill_function("finalizer")
    assert local.running().get("finalizer") is None
    assert not probe(url, "any")
    local.restart_function("finalizer")
    assert local.running()["finalizer"]
    assert probe(url, "any")
    with pytest.raises(StackError, match="emulator"):
        local.restart_function("pubsub")
    with pytest.raises(StackError, match="no stack component"):
        local.kill_function("nope")


# --- clear errors, nothing left behind --------------------------------------------------


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.usefixtures("default_settings_env")
def test_a_taken_port_is_a_clear_error_not_a_hang(held_port: int, tmp_path: Path) -> None:
    settings = free_port_settings(Settings()).model_copy(update={"pubsub_port": held_port})
    began = time.monotonic()
    with pytest.raises(StackError) as caught:
        LocalStack(settings, tmp_path, REPO_ROOT).start()
    assert time.monotonic() - began < 10
    message = str(caught.value)
    assert f"port {held_port}" in message
    assert "pubsub_port" in message and "AIEXEC_PUBSUB_PORT" in message
    assert not (tmp_path / PIDS_FILE).exists()


@pytest.mark.usefixtures("default_settings_env")
def test_ports_assigned_twice_are_reported() -> None:
    # a worker range that runs into the Pub/Sub emulator's port
    settings = Settings(
        providers=["openai", "anthropic", "vertex"], host="127.0.0.1", worker_base_port=8083
    )
    assert [u.port for u in port_uses(settings)].count(8085) == 2
    with pytest.raises(StackError, match=r"worker_base_port \+ 2.*also assigned.*pubsub_port"):
        check_ports(settings)


def test_missing_tools_say_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError) as caught:
        check_tools()
    message = str(caught.value)
    assert "`gcloud`" in message and "`java`" in message
    assert "apt-get install" in message and "google-cloud-cli-pubsub-emulator" in message
    assert "gcloud components install" in message


def test_java_versions_are_parsed() -> None:
    assert java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert java_major('java version "1.8.0_392"') == 8
    assert java_major('openjdk version "21" 2023-09-19') == 21
    assert java_major("no java here") is None


@pytest.mark.stack  # starts emulators of its own: not in make test-fast
@pytest.mark.usefixtures("default_settings_env")
def test_a_process_that_dies_at_startup_shows_its_log(tmp_path: Path) -> None:
    """A broken function: start() fails fast, names it, shows its log, stops the rest."""
    repo = tmp_path / "repo"
    for name in sorted(p.parent.name for p in (REPO_ROOT / "functions").glob("*/main.py")):
        source = repo / "functions" / name / "main.py"
        source.parent.mkdir(parents=True)
        source.write_text((REPO_ROOT / "functions" / name / "main.py").read_text())
    (repo / "functions" / "finalizer" / "main.py").write_text("import no_such_module_here\n")
    settings = free_port_settings(Settings())
    local = LocalStack(settings, tmp_path / "state", repo, start_timeout_s=60)
    with pytest.raises(StackError) as caught:
        local.start()
    message = str(caught.value)
    assert "finalizer exited" in message
    assert "no_such_module_here" in message
    assert not (tmp_path / "state" / PIDS_FILE).exists()
    check_ports(settings)  # every port is free again: nothing was left running


# --- settings travel to child processes ---------------------------------------------------


@pytest.mark.usefixtures("default_settings_env")
def test_settings_env_round_trips_overrides() -> None:
    settings = Settings(
        providers=["vertex", "openai"],
        project_id="demo-other",
        openai_api_key=SecretStr("sk-test"),
        provider_attempts=2,
        log_prompts=True,
    ).model_copy(update={"pubsub_port": 12345})
    env = settings_env(settings)
    assert env["AIEXEC_PROVIDERS"] == "vertex,openai"
    assert env["GOOGLE_CLOUD_PROJECT"] == "demo-other"
    assert env["OPENAI_API_KEY"] == "sk-test"
    assert env["AIEXEC_PUBSUB_PORT"] == "12345"
    assert "AIEXEC_FIRESTORE_PORT" not in env  # left at its default
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from infra.settings import Settings; print(Settings().model_dump_json())",
        ],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    seen = json.loads(child.stdout)
    assert seen["providers"] == ["vertex", "openai"]
    assert (seen["project_id"], seen["pubsub_port"]) == ("demo-other", 12345)
    assert (seen["provider_attempts"], seen["log_prompts"]) == (2, True)


@pytest.mark.usefixtures("default_settings_env")
def test_free_port_settings_are_distinct_and_free() -> None:
    settings = free_port_settings(Settings(providers=["a1", "b1", "c1"]))
    ports = [u.port for u in port_uses(settings)]
    # 13 fixed (emulators, simulator, trace collector, functions incl. the batch lane's) + 3
    # workers
    assert len(set(ports)) == len(ports) == 16
    assert settings.ingest_url == f"http://127.0.0.1:{settings.ingest_port}"
    check_ports(settings)


# --- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, default_settings_env: None) -> dict[str, str]:
    """Environment of an `aiexec` process with its own ports and state dir."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(settings_env(free_port_settings(Settings())))
    env["AIEXEC_STATE_DIR"] = str(tmp_path / "state")
    return env


def aiexec(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiexec.cli.main", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.stack  # starts emulators of its own: not in make test-fast
def test_up_detach_status_and_down(cli_env: dict[str, str]) -> None:
    state = Path(cli_env["AIEXEC_STATE_DIR"])
    up = aiexec(cli_env, "up", "--detach")
    try:
        assert up.returncode == 0, up.stderr
        assert "PUBSUB_EMULATOR_HOST" in up.stdout and str(state / "logs") in up.stdout
        exported = read_env_file(state / ENV_FILE)
        assert probe(exported["AIEXEC_INGEST_URL"] + "/health", "200")  # up at return
        status = aiexec(cli_env, "stack")
        assert status.returncode == 0, status.stdout + status.stderr
        answering = [line for line in status.stdout.splitlines() if line.endswith(" yes")]
        assert len(answering) >= 9 and not status.stdout.rstrip().endswith(" no")
        assert not [line for line in status.stdout.splitlines() if line.endswith(" no")]
        again = aiexec(cli_env, "up", "--detach")
        assert again.returncode == 3 and "already running" in again.stderr
    finally:
        down = aiexec(cli_env, "down")
    assert down.returncode == 0, down.stderr
    assert "stopped: pubsub, firestore" in down.stdout
    assert not (state / PIDS_FILE).exists()
    assert not probe(exported["AIEXEC_INGEST_URL"] + "/health", "any")
    assert aiexec(cli_env, "stack").returncode == 3
    nothing = aiexec(cli_env, "down")
    assert nothing.returncode == 0 and "no local stack is running" in nothing.stdout


@pytest.mark.stack  # starts emulators of its own: not in make test-fast
def test_up_in_the_foreground_stops_everything_on_sigint(cli_env: dict[str, str]) -> None:
    state = Path(cli_env["AIEXEC_STATE_DIR"])
    process = subprocess.Popen(
        [sys.executable, "-m", "aiexec.cli.main", "up"],
        env=cli_env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until((state / "up.json").exists, 120, "aiexec up ready")
        pids = json.loads((state / PIDS_FILE).read_text())["processes"]
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Ctrl-C stops everything" in output and "stopped" in output
    assert not any(group_alive(record["pgid"]) for record in pids)
    assert not (state / PIDS_FILE).exists()


def test_a_taken_port_makes_up_exit_3(cli_env: dict[str, str], held_port: int) -> None:
    cli_env["AIEXEC_FIRESTORE_PORT"] = str(held_port)
    result = aiexec(cli_env, "up", "--detach", timeout=30)
    assert result.returncode == 3
    assert f"port {held_port}" in result.stderr and "AIEXEC_FIRESTORE_PORT" in result.stderr
