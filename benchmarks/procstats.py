"""What the stack's processes did: operation counters (`shared/opcount.py` files), peak memory and
CPU time from /proc — grouped by component (each one runs in its own process group)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

_PROC = Path("/proc")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
QUIET_CHECKS = 3  # identical consecutive snapshots before a delta is taken
QUIET_INTERVAL_S = 0.4  # > opcount.FLUSH_INTERVAL_S: a pending flush shows up in between


def group_members(pgid: int) -> list[int]:
    """Live pids in process group `pgid` (a functions-framework server: arbiter + worker)."""
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X") and fields[2] == str(pgid):
            members.append(int(entry.name))
    return members


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        fields = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime + stime


def peak_rss_mib(groups: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """component → peak RSS (VmHWM) of its largest process and of the group summed, MiB."""
    result = {}
    for name, pgid in groups.items():
        peaks = [_status_kib(pid, "VmHWM") for pid in group_members(pgid)]
        result[name] = {
            "max_mib": round(max(peaks, default=0) / 1024, 1),
            "group_mib": round(sum(peaks) / 1024, 1),
        }
    return result


def cpu_seconds(groups: Mapping[str, int]) -> dict[str, float]:
    """component → CPU seconds (user + system) its processes used so far."""
    return {
        name: round(sum(_cpu_s(pid) for pid in group_members(pgid)), 3)
        for name, pgid in groups.items()
    }


def read_counters(directory: Path, groups: Mapping[str, int]) -> dict[str, Counter[str]]:
    """component → the counters its processes wrote (cumulative since each process started)."""
    by_pgid = {pgid: name for name, pgid in groups.items()}
    totals: dict[str, Counter[str]] = {name: Counter() for name in groups}
    for path in directory.glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # being replaced right now: the next read gets it
            continue
        name = by_pgid.get(int(record.get("pgid", -1)))
        if name is not None:
            totals[name].update({k: int(v) for k, v in record.get("counts", {}).items()})
    return totals


def settled_counters(directory: Path, groups: Mapping[str, int]) -> dict[str, Counter[str]]:
    """The counters once no process has written anything new for a while (work after the last
    terminal write, such as the completion event, lands before the delta is taken)."""
    previous = read_counters(directory, groups)
    same = 0
    deadline = time.monotonic() + 30.0
    while same < QUIET_CHECKS and time.monotonic() < deadline:
        time.sleep(QUIET_INTERVAL_S)
        current = read_counters(directory, groups)
        same = same + 1 if current == previous else 0
        previous = current
    return previous


def delta(
    after: Mapping[str, Counter[str]], before: Mapping[str, Counter[str]]
) -> dict[str, Counter[str]]:
    out = {}
    for name, counts in after.items():
        diff = Counter(counts)
        diff.subtract(before.get(name, Counter()))
        out[name] = Counter({k: v for k, v in diff.items() if v})
    return out
