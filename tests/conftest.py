"""Session fixtures: ONE local stack (emulators, simulator, functions) for every test that asks.

The `stack` fixture is lazy: only tests that request it (directly or through another fixture)
start it, once per session, on free ports with a private state directory. While it runs, the
test process's environment points at it (PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST,
GOOGLE_CLOUD_PROJECT, AIEXEC_*), and `get_settings()` reads that environment.

Tests that use it are marked `stack` automatically: `pytest -m "not stack"` skips them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.localstack import LocalStack, StackError, free_port_settings
from infra.settings import Settings, get_settings
from shared.providers.registry import SPECS

REPO_ROOT = Path(__file__).resolve().parent.parent
# Settings that would send the stack's provider calls past the simulator (to a real provider),
# as each provider's spec declares them.
REAL_PROVIDER_ENV = tuple(env for spec in SPECS.values() for env in spec.simulator.endpoint_env)
# The test stack trades production defaults for speed and isolation: short provider timeouts
# and leases (so "a worker died" recovers in seconds), and no cached circuit view (so a test
# that resets the breaker is seen by every worker at once).
TEST_STACK_SETTINGS: dict[str, Any] = {
    **{f"{name}_timeout_s": 3.0 for name in SPECS},  # each provider section's timeout field
    "lease_margin_s": 1.0,
    "circuit_cache_s": 0.0,
    "retry_backoff_s": 0.05,
    # Batch jobs of at most 400 lines, so the batch lane's tests see a flush split into jobs.
    "batch_max_lines": 400,
}
# Settings read from variables without the AIEXEC_ prefix (besides the emulator hosts).
SETTINGS_ENV = (
    "GOOGLE_CLOUD_PROJECT",
    "PROVIDER",
    *(env for spec in SPECS.values() for env in spec.settings_env),
)


@dataclass(frozen=True)
class StackHandle:
    """What tests get from the `stack` fixture."""

    settings: Settings  # as the test process (and every stack process) reads them
    env: dict[str, str]  # the connection settings, also exported into os.environ
    ingest_url: str
    simulator_url: str
    stack: LocalStack
    started_in_s: float


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No test may skip: a skipped test is one that never runs, in CI least of all (a missing
    library or tool is a missing dev dependency or prerequisite, to be fixed, not skipped).
    Deselecting (`-m "not stack"`, `-k`) is not skipping."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        where = ", ".join(sorted({report.nodeid or str(report.fspath) for report in skipped}))
        reporter.ensure_newline()
        reporter.write_line(f"FAILED: {len(skipped)} skipped (no test may skip): {where}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def default_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide every settings variable from this test: `Settings()` gives the defaults.

    The emulator hosts stay, so Google clients still reach the session's emulators.
    """
    for name in list(os.environ):
        if name.startswith("AIEXEC_") or name in SETTINGS_ENV:
            monkeypatch.delenv(name)
    get_settings.cache_clear()


@contextlib.contextmanager
def _environ(update: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """`os.environ` with `update` applied and `remove` gone; restored afterwards."""
    saved = {name: os.environ.get(name) for name in (*update, *remove)}
    for name in remove:
        os.environ.pop(name, None)
    os.environ.update(update)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """The session's local stack; fails every test that needs it if it cannot start.

    Provider calls always go to the simulator: real-provider settings are hidden from the
    stack and the test process for the session.
    """
    with _environ({}, remove=REAL_PROVIDER_ENV):
        settings = free_port_settings(Settings(**TEST_STACK_SETTINGS))
        local = LocalStack(settings, tmp_path_factory.mktemp("aiexec-stack"), REPO_ROOT)
        began = time.monotonic()
        failure = None
        try:
            local.start()
        except StackError as exc:
            failure = str(exc)
        if failure is not None:  # outside the except: the message, not a chained traceback
            pytest.fail(f"the local stack did not start:\n{failure}", pytrace=False)
        try:
            with _environ(local.env):
                yield StackHandle(
                    settings=get_settings(),
                    env=local.env,
                    ingest_url=local.url("ingest"),
                    simulator_url=local.url("simulator"),
                    stack=local,
                    started_in_s=time.monotonic() - began,
                )
        finally:
            local.stop()
