"""The peer side by side: LiteLLM's `Router` (benchmarks/peer_router.py, a process of its own)
over the same batch, against the same simulator, with the same concurrency.

A synchronous router has no durable queue: a task is answered to the caller that is waiting for
it, or not at all. So the crash is modelled from the caller's side, honestly: the router process
is SIGKILLed once about half of the batch was answered; the caller then re-submits every task it
did not see answered to a new router process (whose start-up counts: it is the restart). Counted:
tasks the caller would have lost without re-submitting, tasks never answered in the end, and
the provider calls made twice (the killed process's calls in flight, paid for and thrown away).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.batch import PROMPT
from benchmarks.stats import Figures, spread

READY_TIMEOUT_S = 120.0  # importing LiteLLM takes seconds on a loaded machine
POLL_S = 0.05


@dataclass(frozen=True)
class PeerConfig:
    simulator: str
    project: str
    concurrency: int
    work_dir: Path
    python: str = sys.executable
    location: str = "us-central1"


@dataclass
class PeerRun:
    """One batch through the peer: when it was submitted, and every answer the caller saw."""

    ids: list[str]
    submitted_at: float = 0.0  # wall clock (the router process writes wall-clock times)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # first answer per id
    answered_before_kill: int | None = None  # crash only
    provider_calls: int = 0
    restart_s: float | None = None  # crash only: the new process's start-up


class RouterProcess:
    """One `benchmarks.peer_router` process over `tasks`, started and ready (not yet going)."""

    def __init__(
        self, config: PeerConfig, ids: list[str], answers: Path, name: str, *, warm: bool
    ) -> None:
        config.work_dir.mkdir(parents=True, exist_ok=True)
        tasks = config.work_dir / f"{name}.tasks.jsonl"
        write_tasks(tasks, ids)
        argv = [config.python, "-m", "benchmarks.peer_router", "--simulator", config.simulator]
        argv += ["--project", config.project, "--location", config.location]
        argv += ["--tasks", str(tasks), "--answers", str(answers)]
        argv += ["--concurrency", str(config.concurrency), *(["--warm"] if warm else [])]
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
        self.log = (config.work_dir / f"{name}.log").open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until ready (or the process died)
        if line.strip() != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"the peer did not start; see {config.work_dir / name}.log")

    def go(self) -> float:
        assert self.proc.stdin is not None
        at = time.time()
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return at

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            self.close()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self.log.close()


def write_tasks(path: Path, ids: list[str]) -> None:
    lines = (json.dumps({"task_id": i, "prompt": PROMPT.format(i)}) for i in ids)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_answers(path: Path) -> list[dict[str, Any]]:
    """The answers written so far (a line cut by a kill is not an answer)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def first_answers(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        out.setdefault(str(record.get("task_id")), record)
    return out


def run_peer(
    config: PeerConfig,
    ids: list[str],
    name: str,
    calls: Callable[[], int],
    *,
    kill_at: float | None = None,
    timeout_s: float = 600.0,
) -> PeerRun:
    """The batch through a router process; with `kill_at` (a fraction), SIGKILLed once that
    share was answered, then the rest re-submitted to a new process."""
    answers = config.work_dir / f"{name}.answers.jsonl"
    answers.unlink(missing_ok=True)
    run = PeerRun(ids=ids)
    # Warm like the pipeline's processes (its warm-up batches); the restarted one starts cold,
    # as the pipeline's restarted worker does.
    router = RouterProcess(config, ids, answers, name, warm=True)
    calls_before = calls()
    run.submitted_at = router.go()
    if kill_at is None:
        router.wait(timeout_s)
    else:
        deadline = time.monotonic() + timeout_s
        while len(read_answers(answers)) < kill_at * len(ids) and time.monotonic() < deadline:
            if router.proc.poll() is not None:
                break
            time.sleep(POLL_S)
        router.kill()
        seen = first_answers(read_answers(answers))
        run.answered_before_kill = len(seen)
        rest = [i for i in ids if i not in seen]
        if rest:
            began = time.time()
            again = RouterProcess(config, rest, answers, f"{name}-restarted", warm=False)
            run.restart_s = time.time() - began
            again.go()
            again.wait(timeout_s)
    run.answers = first_answers(read_answers(answers))
    run.provider_calls = calls() - calls_before
    return run


def peer_figures(run: PeerRun, primary: str) -> Figures:
    """The pipeline's batch figures, for the peer: from the caller's submit to each answer."""
    n = len(run.ids)
    answered = [run.answers[i] for i in run.ids if i in run.answers]
    ok = [a for a in answered if a.get("ok")]
    ends = [float(a["ended"]) for a in answered]
    lost = n - len(answered)
    wall = max(ends) - run.submitted_at if ends and not lost else None
    latencies = [(float(a["ended"]) - run.submitted_at) * 1000 for a in answered]
    figures: Figures = {
        "tasks": n,
        "succeeded": len(ok),
        "failed": len(answered) - len(ok),
        "lost": lost,
        "wall_s": wall,
        "throughput": n / wall if wall else None,
        "provider_calls": run.provider_calls / n if n else None,
        "duplicate_calls": max(0, run.provider_calls - expected_calls(answered, primary)),
        "fallback_rate": round(sum(1 for a in ok if a.get("provider") != primary) / len(ok), 3)
        if ok
        else None,
    }
    figures |= spread(latencies, "client")
    if run.answered_before_kill is not None:
        figures["lost_without_resubmit"] = n - run.answered_before_kill
        figures["restart_s"] = round(run.restart_s, 2) if run.restart_s is not None else None
    return figures


def expected_calls(answered: list[dict[str, Any]], primary: str) -> int:
    """Provider calls a batch needs once each: one per task the primary answered, two (the
    primary's failure, then the fallback) per task a fallback answered."""
    return sum(1 if a.get("provider") in (primary, "openai") else 2 for a in answered)
