"""Child processes in their own process groups: spawn, probe, stop (also from another process)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import httpx

_PROC = Path("/proc")
POLL_INTERVAL_S = 0.1


def spawn(argv: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session (its own process group), output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        out.write(f"=== {stamp} starting: {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (index 0 = state, 2 = pgrp, 19 = start)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[-1].split()


def start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot): tells a reused pid from ours."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in process group `pgid`."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] not in ("Z", "X") and fields[2] == str(pgid):
            return True
    return False


def same_process(pid: int, ticks: int | None) -> bool:
    """Whether `pid` still runs and is the process we recorded (not exited, not reused)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return ticks is None or len(fields) <= 19 or int(fields[19]) == ticks


def recorded_group_alive(pid: int, pgid: int, ticks: int | None) -> bool:
    """Whether the group we started as `pid` (at `ticks`) still runs.

    The leader may have exited while its children (the emulator's JVM under gcloud) live on;
    a pid that exists with another start time was reused, so our group is long gone (Linux never
    hands out a pid still in use as a process group id).
    """
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):  # leader gone (or a zombie): its group?
        return group_alive(pgid)
    return ticks is None or len(fields) <= 19 or int(fields[19]) == ticks


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(children: Iterable[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.poll()


def stop_groups(
    pgids: Iterable[int],
    *,
    grace_s: float = 10.0,
    children: Iterable[subprocess.Popen[bytes]] = (),
) -> list[int]:
    """SIGTERM every group, SIGKILL those still alive after `grace_s`; returns the killed ones.

    `children` are our own `Popen` handles, reaped while waiting so they don't linger as zombies.
    """
    groups = [g for g in pgids if group_alive(g)]
    own = list(children)
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    alive = _wait_gone(groups, own, grace_s)
    for pgid in alive:
        _signal_group(pgid, signal.SIGKILL)
    _wait_gone(alive, own, 5.0)
    return alive


def kill_group(pgid: int, child: subprocess.Popen[bytes] | None = None) -> None:
    """SIGKILL a process group at once (a crash, for chaos tests)."""
    _signal_group(pgid, signal.SIGKILL)
    _wait_gone([pgid], [child] if child else [], 5.0)


def _wait_gone(
    groups: list[int], children: list[subprocess.Popen[bytes]], timeout_s: float
) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        _reap(children)
        alive = [g for g in groups if group_alive(g)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(POLL_INTERVAL_S)


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file (or a note that there is none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64_000))
            text = handle.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def probe(url: str, expect: str, timeout_s: float = 1.0) -> bool:
    """Whether `url` answers: expect `Ok` (body), `200` (status) or `any` (any HTTP answer)."""
    try:
        response = httpx.get(url, timeout=timeout_s, trust_env=False)
    except httpx.HTTPError:
        return False
    if expect == "any":
        return True
    if expect == "200":
        return response.status_code == 200
    return response.status_code == 200 and response.text.strip() == expect
