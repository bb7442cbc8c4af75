"""`LocalStack`: emulators, simulator and functions as child processes, ready or not at all."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from infra.localstack.components import (
    EMULATORS,
    PUBSUB_DATA_DIR,
    SIMULATOR,
    TRACE_COLLECTOR,
    Component,
    stack_components,
)
from infra.localstack.envs import child_env, stack_env
from infra.localstack.errors import StackError
from infra.localstack.ports import SERVICE_PORTS, check_ports
from infra.localstack.preflight import check_tools
from infra.localstack.procs import (
    POLL_INTERVAL_S,
    kill_group,
    probe,
    spawn,
    start_ticks,
    stop_groups,
    tail,
)
from infra.localstack.state import (
    ENV_FILE,
    LOGS_DIR,
    ProcessRecord,
    StackState,
    new_state,
    remove_state,
    write_env_file,
    write_state,
)
from infra.pubsub_apply import ApplyReport, apply_topology
from infra.settings import Settings
from infra.topology import Topology, build_topology

DEFAULT_START_TIMEOUT_S = 90.0
DEFAULT_GRACE_S = 10.0


class LocalStack:
    """The whole local stack on one machine; `start()` returns only when every part answers.

    Usable as a context manager. Processes run in their own process groups, so `stop()` (or
    `aiexec down` from another process, through the pids file) takes their children down too.
    """

    def __init__(
        self,
        settings: Settings,
        state_dir: Path,
        repo_root: Path,
        *,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        grace_s: float = DEFAULT_GRACE_S,
        functions_only: bool = False,
    ) -> None:
        """`functions_only`: the emulators and the simulator at the settings' ports are another
        stack's, already running; start the functions only (with their own project id, they
        are a second, isolated deployment on the same emulators: tests of another chain)."""
        self.settings = settings
        self.functions_only = functions_only
        self.state_dir = state_dir.resolve()
        self.repo_root = repo_root.resolve()
        self.start_timeout_s = start_timeout_s
        self.grace_s = grace_s
        self.topology: Topology | None = None
        self.apply_report: ApplyReport | None = None
        self._components: dict[str, Component] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._state: StackState | None = None

    # --- what clients need -------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """Connection settings (and every overridden AIEXEC_* setting) for clients."""
        return stack_env(self.settings)

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / LOGS_DIR

    @property
    def env_file(self) -> Path:
        return self.state_dir / ENV_FILE

    @property
    def components(self) -> dict[str, Component]:
        return dict(self._components)

    def function_log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def url(self, name: str) -> str:
        return self._component(name).url

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start everything; on any failure stop what was started and raise `StackError`."""
        if self._procs:
            raise StackError("this LocalStack is already started")
        check_tools()
        check_ports(self.settings, skip=SERVICE_PORTS if self.functions_only else ())
        components = stack_components(self.settings, self.state_dir, self.repo_root)
        if self.functions_only:
            shared = (*EMULATORS, SIMULATOR, TRACE_COLLECTOR)
            components = [c for c in components if c.name not in shared]
        self._components = {c.name: c for c in components}
        self._state = new_state(self.state_dir, self.settings.project_id)
        (self.state_dir / PUBSUB_DATA_DIR).mkdir(parents=True, exist_ok=True)
        self._rotate_logs()
        try:
            for component in components:
                self._spawn(component)
            self._wait_ready(components)
            self._apply_topology()
            write_env_file(self.env_file, self.env)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process this object started (SIGTERM, then SIGKILL after the grace)."""
        pgids = [p.pid for p in self._procs.values()]
        stop_groups(pgids, grace_s=self.grace_s, children=self._procs.values())
        self._procs.clear()
        if self._state is not None:  # we wrote the pids file: nothing it lists runs any more
            remove_state(self.state_dir)
        self._state = None

    def running(self) -> dict[str, bool]:
        """name → whether its process is alive (not whether it answers)."""
        return {name: proc.poll() is None for name, proc in self._procs.items()}

    def answering(self) -> dict[str, bool]:
        """name → whether it answers HTTP right now."""
        return {n: probe(c.probe_url, c.expect) for n, c in self._components.items()}

    def kill_function(self, name: str) -> None:
        """SIGKILL a function's (or the simulator's) process group: a crash, not a shutdown."""
        self._check_restartable(name)
        proc = self._procs.pop(name, None)
        if proc is not None:
            kill_group(proc.pid, proc)
            self._record()

    def restart_function(self, name: str) -> None:
        """Stop (gracefully) a function or the simulator if running, start it, wait until ready."""
        self._check_restartable(name)
        proc = self._procs.pop(name, None)
        if proc is not None:
            stop_groups([proc.pid], grace_s=self.grace_s, children=[proc])
        component = self._component(name)
        self._spawn(component)
        self._wait_ready([component])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ---------------------------------------------------------------------
    def _component(self, name: str) -> Component:
        try:
            return self._components[name]
        except KeyError:
            known = ", ".join(self._components) or "none (not started)"
            raise StackError(f"no stack component {name!r}; known: {known}") from None

    def _check_restartable(self, name: str) -> None:
        self._component(name)  # raises for an unknown name
        if name in EMULATORS:
            raise StackError(f"{name} is an emulator; restarting it would lose its state")

    def _rotate_logs(self) -> None:
        """A fresh log per start; the previous run's stays as `<name>.log.1`."""
        for name in self._components:
            log = self.function_log(name)
            if log.exists():
                log.replace(log.with_name(log.name + ".1"))

    def _spawn(self, component: Component) -> None:
        env = child_env(
            self.settings, self.repo_root, provider=component.provider, threads=component.threads
        )
        log = self.function_log(component.name)
        self._procs[component.name] = spawn(
            list(component.argv), cwd=self.repo_root, env=env, log=log
        )
        self._record()

    def _record(self) -> None:
        """Rewrite the pids file: `aiexec down` can clean up even if this process dies."""
        if self._state is None:
            return
        self._state.processes = [
            ProcessRecord(
                name=name,
                pid=proc.pid,
                pgid=proc.pid,
                start_ticks=start_ticks(proc.pid),
                url=self._components[name].url,
                probe_path=self._components[name].probe_path,
                expect=self._components[name].expect,
                log=str(self.function_log(name)),
            )
            for name, proc in self._procs.items()
        ]
        write_state(self._state)

    def _wait_ready(self, components: list[Component]) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        pending = list(components)
        while pending:
            for component in list(pending):
                self._check_alive(component)
                if probe(component.probe_url, component.expect):
                    pending.remove(component)
            if pending and time.monotonic() > deadline:
                raise StackError(self._not_ready_message(pending))
            if pending:
                time.sleep(POLL_INTERVAL_S)

    def _check_alive(self, component: Component) -> None:
        proc = self._procs[component.name]
        code = proc.poll()
        if code is None:
            return
        log = self.function_log(component.name)
        raise StackError(
            f"{component.name} exited with code {code} before answering on {component.url}; "
            f"last lines of {log}:\n{tail(log)}"
        )

    def _not_ready_message(self, pending: list[Component]) -> str:
        parts = [
            f"{c.name} did not answer GET {c.probe_url} (expecting {c.expect}) within "
            f"{self.start_timeout_s:.0f} s; last lines of {self.function_log(c.name)}:\n"
            f"{tail(self.function_log(c.name))}"
            for c in pending
        ]
        return "\n\n".join(parts)

    def _apply_topology(self) -> None:
        endpoints = {c.name: c.push_endpoint for c in self._components.values() if c.push_endpoint}
        self.topology = build_topology(self.settings, endpoints)
        try:
            self.apply_report = apply_topology(
                self.topology,
                self.settings.project_id,
                emulator_host=f"{self.settings.host}:{self.settings.pubsub_port}",
            )
        except Exception as exc:  # any client error: name it, then stop the stack
            raise StackError(f"applying the Pub/Sub topology failed: {exc}") from exc
