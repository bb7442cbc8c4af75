"""What a running stack leaves in its state directory, so another process can find and stop it.

```
<state_dir>/pids.json   the processes (pid, process group, start time, URL, log)
<state_dir>/local.env   `export NAME=value` lines: how clients reach the stack
<state_dir>/logs/       one log file per process
```
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from infra.localstack.errors import StackError
from infra.localstack.procs import probe, recorded_group_alive, stop_groups

PIDS_FILE = "pids.json"
ENV_FILE = "local.env"
LOGS_DIR = "logs"


@dataclass
class ProcessRecord:
    name: str
    pid: int
    pgid: int
    start_ticks: int | None
    url: str
    probe_path: str
    expect: str
    log: str

    def alive(self) -> bool:
        """Whether the recorded process group still runs (and the pid was not reused)."""
        return recorded_group_alive(self.pid, self.pgid, self.start_ticks)

    def answers(self) -> bool:
        return probe(self.url + self.probe_path, self.expect)


@dataclass
class StackState:
    state_dir: Path
    owner_pid: int
    project_id: str
    started_at: str
    processes: list[ProcessRecord] = field(default_factory=list)

    def running(self) -> list[ProcessRecord]:
        return [p for p in self.processes if p.alive()]


def pids_path(state_dir: Path) -> Path:
    return state_dir / PIDS_FILE


def write_state(state: StackState) -> None:
    """Write the pids file atomically (a reader never sees half a file)."""
    state.state_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "owner_pid": state.owner_pid,
        "project_id": state.project_id,
        "started_at": state.started_at,
        "processes": [asdict(p) for p in state.processes],
    }
    target = pids_path(state.state_dir)
    scratch = target.with_suffix(".tmp")
    scratch.write_text(json.dumps(payload, indent=2) + "\n")
    scratch.replace(target)


def new_state(state_dir: Path, project_id: str) -> StackState:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return StackState(state_dir, os.getpid(), project_id, started)


def read_state(state_dir: Path) -> StackState | None:
    """The recorded stack, or None when no pids file exists."""
    path = pids_path(state_dir)
    try:
        payload = json.loads(path.read_text())
        processes = [ProcessRecord(**p) for p in payload["processes"]]
        return StackState(
            state_dir,
            int(payload["owner_pid"]),
            str(payload["project_id"]),
            str(payload["started_at"]),
            processes,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StackError(f"unreadable pids file {path}: {exc}; remove it by hand") from exc


def remove_state(state_dir: Path) -> None:
    pids_path(state_dir).unlink(missing_ok=True)


def stop_recorded(state_dir: Path, *, grace_s: float = 10.0) -> list[str] | None:
    """Stop every process the pids file lists; None when there is no pids file.

    Returns the names of the processes that were still running.
    """
    state = read_state(state_dir)
    if state is None:
        return None
    running = state.running()
    stop_groups([p.pgid for p in running], grace_s=grace_s)
    remove_state(state_dir)
    return [p.name for p in running]


def write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """`export NAME=value` lines, shell-quoted, for `source .aiexec/local.env`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# written by `aiexec up`: how to reach the local stack"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    path.write_text("\n".join(lines) + "\n")
