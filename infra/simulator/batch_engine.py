"""The batch job engine shared by the simulator's OpenAI Batches and Vertex AI batch prediction
dialects (`openai_batches.py`, `vertex_batches.py`): jobs, their phase in time, the fault they
were created under, their lines answered once; and the routing types both dialects register.

A job lives in virtual time. Created at t0 under the delay d in force then
(AIEXEC_SIM_BATCH_DELAY_S, changed at run time through `POST /_sim/batch`), it is queued
(OpenAI `validating`, Vertex `JOB_STATE_PENDING`) until t0 + 0.1 d, running until t0 + 0.9 d,
finalizing until t0 + d, then terminal. A job that fails (its input is invalid, or the
`batch-fail` fault) fails at the end of its queued phase. A cancel moves it to cancelling, and
to cancelled a tenth of d later.

Nothing runs in the background: the lines are answered on the first read that finds the job
terminal, once (under the job's lock), by the same code that answers the online call (the
dialect's `complete`), so tokens and text equal the online path's for the same request. Every
timestamp is exact (t0 + its fraction of d) however often or late a client polls.

The fault of the job's provider when it is created decides its fate, whatever is set later:
`batch-fail` (the job fails), `batch-expire` (it expires at t0 + d; the dialect says which lines
ran before), `batch-line-errors` (the lines whose key `line_fails`, about a tenth, get an error).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from infra.simulator.faults import Outcome, SimState
from infra.simulator.models import ModelRegistry
from infra.simulator.textgen import PromptCache
from infra.simulator.wire import Reply

QUEUED_SHARE = 0.1  # of the delay: validating / pending
FINALIZING_SHARE = 0.9  # of the delay: the job finalizes after this share
CANCEL_SHARE = 0.1  # of the delay: how long cancelling lasts
LINE_ERROR_EVERY = 10  # batch-line-errors: one line in this many (by its key's hash) fails


class Phase(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.EXPIRED, Phase.CANCELLED})


def line_fails(key: str) -> bool:
    """Whether `batch-line-errors` answers the line with this key (custom_id, key) an error:
    stable across processes (crc32, not hash()), so a test can name the lines in advance."""
    return zlib.crc32(key.encode()) % LINE_ERROR_EVERY == 0


@dataclass(frozen=True)
class Line:
    key: str  # what matches the answer to the request: custom_id (OpenAI), key (Vertex)
    request: Any  # the parsed input line
    problem: str | None = None  # the line cannot run (not JSON, no request); answered an error


@dataclass(frozen=True)
class LineResult:
    line: Line
    reply: Reply | None  # None: never ran (the job expired first)
    simulated: bool = False  # the error is the batch-line-errors fault's


@dataclass
class BatchJob:
    id: str
    provider: str
    lines: list[Line]
    delay_s: float
    mode: str  # the provider's fault mode when the job was created
    failure: str | None = None  # why the job fails (invalid input, batch-fail)
    data: dict[str, Any] = field(default_factory=dict)  # the dialect's own fields
    created_at: float = field(default_factory=time.time)
    cancel_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _settled: Any = None

    def at(self, share: float) -> float:
        """The wall time at `share` of the job's delay."""
        return self.created_at + share * self.delay_s

    def phase(self, now: float | None = None) -> Phase:
        now = time.time() if now is None else now
        if self.cancel_at is not None:
            done = now >= self.cancel_at + CANCEL_SHARE * self.delay_s
            return Phase.CANCELLED if done else Phase.CANCELLING
        if self.failure is not None:
            return Phase.FAILED if now >= self.at(QUEUED_SHARE) else Phase.QUEUED
        if now >= self.at(1.0):
            return Phase.EXPIRED if self.mode == "batch-expire" else Phase.COMPLETED
        if now >= self.at(FINALIZING_SHARE):
            return Phase.FINALIZING
        return Phase.RUNNING if now >= self.at(QUEUED_SHARE) else Phase.QUEUED

    def settle(self, compute: Callable[[BatchJob], Any]) -> Any:
        """`compute(job)` once (the lines answered, the output written); its value ever after."""
        with self._lock:
            if self._settled is None:
                self._settled = compute(self)
            return self._settled

    def answer(self, run: Callable[[Line], Reply], ran_share: float = 1.0) -> list[LineResult]:
        """Every line's result: `run` for each line that runs; when the job expired, only the
        first `ran_share` of its lines ran."""
        ran = len(self.lines) if self.phase() != Phase.EXPIRED else int(len(self.lines) * ran_share)
        return [self._result(line, run) if n < ran else LineResult(line, None)
                for n, line in enumerate(self.lines)]  # fmt: skip

    def _result(self, line: Line, run: Callable[[Line], Reply]) -> LineResult:
        if self.mode == "batch-line-errors" and line_fails(line.key):
            return LineResult(line, None, simulated=True)
        return LineResult(line, run(line))


class BatchEngine:
    """Every batch job of the simulator, both providers; thread-safe."""

    def __init__(self, delay_s: float) -> None:
        self._lock = threading.Lock()
        self._default_delay_s = delay_s
        self._delay_s = delay_s
        self._jobs: dict[str, BatchJob] = {}

    @property
    def delay_s(self) -> float:
        with self._lock:
            return self._delay_s

    def set_delay(self, delay_s: float) -> None:
        """The delay of jobs created from now on (running jobs keep theirs)."""
        with self._lock:
            self._delay_s = delay_s

    def reset(self) -> None:
        """No job, the delay the simulator started with."""
        with self._lock:
            self._jobs = {}
            self._delay_s = self._default_delay_s

    def create(
        self, provider: str, job_id: str, lines: list[Line], mode: str, failure: str | None
    ) -> BatchJob:
        if failure is None and mode == "batch-fail":
            failure = "the job failed (simulated by the batch-fail fault)"
        with self._lock:
            job = BatchJob(job_id, provider, lines, self._delay_s, mode, failure)
            self._jobs[job_id] = job
        return job

    def get(self, provider: str, job_id: str) -> BatchJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.provider == provider else None

    def jobs(self, provider: str) -> list[BatchJob]:
        """The provider's jobs, newest first."""
        with self._lock:
            found = [job for job in self._jobs.values() if job.provider == provider]
        return sorted(found, key=lambda job: job.created_at, reverse=True)

    def cancel(self, job: BatchJob) -> bool:
        """Start cancelling; False when the job already ended (a cancel again is a no-op)."""
        with self._lock:
            phase = job.phase()
            if phase in TERMINAL:
                return False
            if job.cancel_at is None:
                job.cancel_at = time.time()
            return True

    def summary(self) -> dict[str, Any]:
        """What `GET /_sim/batch` shows: the delay and each job's phase."""
        with self._lock:
            jobs = list(self._jobs.values())
            delay = self._delay_s
        listed = [{"provider": j.provider, "id": j.id, "phase": j.phase(), "lines": len(j.lines),
                   "mode": j.mode} for j in sorted(jobs, key=lambda j: j.created_at)]  # fmt: skip
        return {"delay_s": delay, "jobs": listed}


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


# --- routing: what each batch dialect registers with the server ------------------------------
@dataclass(frozen=True)
class BatchRequest:
    raw: bytes
    query: dict[str, str]
    content_type: str


@dataclass(frozen=True)
class BatchContext:
    """The server's state a batch endpoint works with."""

    engine: BatchEngine
    files: FileStore
    cache: PromptCache
    models: ModelRegistry
    state: SimState


Handler = Callable[[BatchContext, re.Match[str], BatchRequest], Reply]
Finder = Callable[[BatchContext, re.Match[str]], "BatchJob | Reply"]  # the job, or its 404


@dataclass(frozen=True)
class Route:
    provider: str
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    fault: Callable[[Outcome], Reply]  # the provider's error for an outage of its whole API


def get_handler(find: Finder, render: Callable[[BatchContext, BatchJob], Reply]) -> Handler:
    """A dialect's "get one job": the job as the provider shows it, or its 404."""

    def handle(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
        job = find(ctx, match)
        return job if isinstance(job, Reply) else render(ctx, job)

    return handle


def cancel_handler(
    find: Finder,
    refused: Callable[[BatchJob], Reply],
    accepted: Callable[[BatchContext, BatchJob], Reply],
) -> Handler:
    """A dialect's "cancel a job": `accepted` once cancelling, `refused` when it had ended."""

    def handle(ctx: BatchContext, match: re.Match[str], request: BatchRequest) -> Reply:
        job = find(ctx, match)
        if isinstance(job, Reply):
            return job
        return accepted(ctx, job) if ctx.engine.cancel(job) else refused(job)

    return handle


# --- the provider's own file storage (OpenAI Files) ------------------------------------------
@dataclass(frozen=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))


class FileStore:
    """Files uploaded to (or produced by) a provider, in memory like the emulators' data."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}

    def add(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        stored = StoredFile(new_id("file-"), filename, purpose, data)
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def delete(self, file_id: str) -> bool:
        with self._lock:
            return self._files.pop(file_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._files = {}
