"""`aiexec up [--detach]`, `aiexec down`, `aiexec stack`: the local stack from the command line.

`up` runs in the foreground until Ctrl-C/SIGTERM and then stops everything it started; with
`--detach` it returns once every part answers and leaves the processes running. Either way the
pids file in the state directory lets `aiexec down` (another process) stop them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import shared
from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE
from aiexec.cli.tables import print_table
from infra.localstack import LocalStack, StackError, read_state, stop_recorded
from infra.localstack.components import stack_components
from infra.localstack.procs import POLL_INTERVAL_S, probe, same_process, start_ticks
from infra.localstack.state import remove_state
from infra.settings import Settings

FOREGROUND_FILE = "up.json"  # the pid of a foreground `aiexec up`, so `down` can ask it to stop
WATCH_INTERVAL_S = 1.0


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="start the local stack (emulators, simulator, functions)")
    up.add_argument(
        "--detach", action="store_true", help="return once every part answers; keep it running"
    )
    up.add_argument(
        "--timeout", type=float, default=90.0, metavar="S", help="startup deadline (default 90)"
    )
    up.set_defaults(func=cmd_up)

    down = subparsers.add_parser("down", help="stop the local stack started by `aiexec up`")
    down.add_argument(
        "--grace", type=float, default=10.0, metavar="S", help="SIGTERM → SIGKILL delay"
    )
    down.set_defaults(func=cmd_down)

    status = subparsers.add_parser("stack", help="which parts of the local stack answer")
    status.set_defaults(func=cmd_stack)


def repo_root() -> Path:
    """The checkout the functions are served from (this package's, else the current dir)."""
    root = Path(shared.__file__).resolve().parent.parent
    return root if (root / "functions").is_dir() else Path.cwd()


def state_dir(settings: Settings, root: Path) -> Path:
    """`settings.state_dir`, relative to the repository root unless absolute."""
    path = Path(settings.state_dir).expanduser()
    return path if path.is_absolute() else root / path


def _err(message: str) -> None:
    print(f"aiexec: {message}", file=sys.stderr)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _show(local: LocalStack, seconds: float) -> None:
    print(f"local stack up in {seconds:.1f} s (project {local.settings.project_id})")
    rows = [(name, c.url, local.function_log(name)) for name, c in local.components.items()]
    print_table(("part", "url", "log"), rows, indent=2)
    if local.apply_report is not None:
        print(f"Pub/Sub topology: {local.apply_report.summary()}")
    print(f"connection settings (`source {local.env_file}`):")
    for name, value in sorted(local.env.items()):
        print(f"  export {name}={value}")


def cmd_up(args: argparse.Namespace) -> int:
    settings = Settings()
    root = repo_root()
    directory = state_dir(settings, root)
    recorded = read_state(directory)
    if recorded is not None and recorded.running():
        _err(
            f"a local stack is already running (started {recorded.started_at}, "
            f"pids in {directory}); stop it with `aiexec down`"
        )
        return EXIT_UNREACHABLE
    if recorded is not None:
        remove_state(directory)  # left behind by a stack that died: nothing of it runs
    local = LocalStack(settings, directory, root, start_timeout_s=args.timeout)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # all mean "stop everything"
        signal.signal(signum, _interrupt)
    began = time.monotonic()
    try:
        local.start()
    except StackError as exc:
        _err(str(exc))
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        _err("interrupted while starting; stopped what was started")
        return EXIT_FAILED
    _show(local, time.monotonic() - began)
    if args.detach:
        print("running in the background; `aiexec down` stops it")
        return EXIT_OK
    return _foreground(local, directory)


def _foreground(local: LocalStack, directory: Path) -> int:
    marker = directory / FOREGROUND_FILE
    marker.write_text(json.dumps({"pid": os.getpid(), "start_ticks": start_ticks(os.getpid())}))
    print("Ctrl-C stops everything", flush=True)
    try:
        _watch(local)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping the local stack ...", flush=True)
        local.stop()
        marker.unlink(missing_ok=True)
        print("stopped")
    return EXIT_OK


def _watch(local: LocalStack) -> None:
    """Until interrupted: say once when a process exits (its log tells why)."""
    reported: set[str] = set()
    while True:
        time.sleep(WATCH_INTERVAL_S)
        for name, alive in local.running().items():
            if not alive and name not in reported:
                reported.add(name)
                _err(f"{name} exited; see {local.function_log(name)}")


def _stop_foreground(directory: Path, grace_s: float) -> bool:
    """Ask a foreground `aiexec up` to stop its stack itself; whether one was running."""
    marker = directory / FOREGROUND_FILE
    try:
        owner = json.loads(marker.read_text())
        pid, ticks = int(owner["pid"]), owner.get("start_ticks")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if pid == os.getpid() or not same_process(pid, ticks):
        marker.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s + 10.0
    while same_process(pid, ticks) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
    return True


def cmd_down(args: argparse.Namespace) -> int:
    settings = Settings()
    directory = state_dir(settings, repo_root())
    foreground = _stop_foreground(directory, args.grace)
    try:
        stopped = stop_recorded(directory, grace_s=args.grace)
    except StackError as exc:
        _err(str(exc))
        return EXIT_FAILED
    if stopped is None and not foreground:
        print(f"no local stack is running (no pids file in {directory})")
    elif stopped:
        print(f"stopped: {', '.join(stopped)}")
    else:
        print("the local stack is stopped")
    return EXIT_OK


def cmd_stack(args: argparse.Namespace) -> int:
    settings = Settings()
    root = repo_root()
    directory = state_dir(settings, root)
    recorded = read_state(directory)
    rows: list[tuple[str, str, str, str]] = []
    if recorded is None:
        print(f"no local stack was started from {directory}; probing the configured ports")
        try:
            components = stack_components(settings, directory, root)
        except StackError as exc:
            _err(str(exc))
            return EXIT_UNREACHABLE
        for c in components:
            rows.append((c.name, "-", c.url, _yes(probe(c.probe_url, c.expect))))
    else:
        print(f"local stack started {recorded.started_at} (pids in {directory})")
        for p in recorded.processes:
            pid = str(p.pid) if p.alive() else f"{p.pid} (exited)"
            rows.append((p.name, pid, p.url, _yes(p.answers())))
    print_table(("part", "pid", "url", "answers"), rows, indent=2)
    all_answer = bool(rows) and all(r[3] == "yes" for r in rows)
    return EXIT_OK if all_answer else EXIT_UNREACHABLE


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
