"""The poller: open batch jobs → their tasks finished, or moved to the online lane.

One run (a `batch-requests` message) reads every job the provider may still be working on and
asks the provider how it is. A job still running whose earliest task deadline is nearer than
AIEXEC_BATCH_ONLINE_MARGIN_S is cancelled (its tasks go online once the provider says it is
cancelled). An ended job's output and error lines settle their tasks one by one (answered →
succeeded, through shared/batch/outcomes.py; failed → online); the job's tasks without a line go
online with the job's reason (failed, expired, cancelled for the deadline, or a missing line).
Every settlement is conditioned on the task still being in the job, so polling a job twice (two
triggers, a crash halfway) settles nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from shared.batch import settle
from shared.batch.jobs import Lane
from shared.batch.outcomes import LaneParts
from shared.batch.provider import BatchProvider, JobState, LineResult, ProviderJob
from shared.clock import utcnow
from shared.error_summaries import summary
from shared.providers.base import ProviderError
from shared.structured_logs import log

logger = logging.getLogger(__name__)
# Settlements in flight, each a transaction of its own that mostly waits on its round trips: at
# 8 a 3,000-task lane took 53 s on the emulator, at 32 (and marks without reads) 30 s (lane_s).
SETTLE_THREADS = 32
POLLED_STATES = [s.value for s in JobState if s.open or s.ended]
# What a task without an answer is told, by the job's end (fixed sentences: provider text is
# logged, never stored on the task).
_ENDINGS = {
    JobState.FAILED: (settle.BATCH_FAILED, "the batch job failed"),
    JobState.EXPIRED: (settle.BATCH_EXPIRED, "the batch job expired before it finished"),
    JobState.CANCELLED: (
        settle.BATCH_DEADLINE,
        "the batch job could not finish before the task's deadline",
    ),
    JobState.COMPLETED: (settle.BATCH_LINE_ERROR, "the batch job returned no line for it"),
}

_JOB_ENDS = {
    "batch_expired": _ENDINGS[JobState.EXPIRED],
    "batch_cancelled": _ENDINGS[JobState.CANCELLED],
}


@dataclass
class PollRun:
    polled: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


class Poller:
    def __init__(self, parts: LaneParts) -> None:
        self.settings, self.jobs, self.exits = parts.settings, parts.jobs, parts.exits
        self.adapter = parts.adapter

    def run(self) -> PollRun:
        report = PollRun()
        for listed in self.jobs.jobs_in(POLLED_STATES):
            if not listed.get("provider_job_id"):
                continue
            job = self.jobs.take_poll(listed["job_id"], self.settings.batch_poll_lease_s)
            if job is None:
                continue  # another run polls it now
            report.polled.append(job["job_id"])
            try:
                self.poll(job, report)
            except ProviderError as error:  # the provider did not answer: next run
                log(
                    logger,
                    logging.WARNING,
                    "batch job not polled",
                    job_id=job["job_id"],
                    code=error.code,
                )
            finally:
                self.jobs.update_job(job["job_id"], poll_lease_until=None)
        return report

    def poll(self, job: dict[str, Any], report: PollRun) -> None:
        adapter = self.adapter(job["provider"])
        now = utcnow()
        try:
            seen = adapter.get(job["provider_job_id"])
        except ProviderError as error:
            if error.status != HTTPStatus.NOT_FOUND:
                raise
            # The provider has no such job (deleted, or another account's): it ran nothing we
            # will ever read, so its tasks go online as for a failed job.
            seen = ProviderJob(job["provider_job_id"], JobState.FAILED, message="job not found")
        if seen.state.open:
            self._still_open(job, seen, now, adapter)
            return
        if job.get("state") != seen.state.value:
            self.jobs.update_job(job["job_id"], state=seen.state.value, completed_at=now)
        counts = self.settle_job(job, seen, adapter)
        report.counts.update(counts)
        self.jobs.update_job(
            job["job_id"],
            state=JobState.FINISHED.value,
            finished_at=utcnow(),
            ended_as=seen.state.value,
            **{f"counts.{name}": value for name, value in counts.items()},
        )
        report.finished.append(job["job_id"])
        log(
            logger,
            logging.INFO,
            "batch job finished",
            job_id=job["job_id"],
            ended_as=seen.state.value,
            **dict(counts),
        )

    def _still_open(
        self, job: dict[str, Any], seen: ProviderJob, now: datetime, adapter: BatchProvider
    ) -> None:
        margin = timedelta(seconds=self.settings.batch_online_margin_s)
        late = isinstance(job.get("deadline_at"), datetime) and job["deadline_at"] - margin < now
        if late and seen.state is not JobState.CANCELLING:
            log(
                logger,
                logging.WARNING,
                "batch job too slow for a deadline; cancelling",
                job_id=job["job_id"],
            )
            adapter.cancel(seen.provider_job_id)
            self.jobs.update_job(job["job_id"], state=JobState.CANCELLING.value)
        elif job.get("state") != seen.state.value:
            self.jobs.update_job(job["job_id"], state=seen.state.value)

    def settle_job(
        self, job: dict[str, Any], seen: ProviderJob, adapter: BatchProvider
    ) -> Counter[str]:
        """Every line of the ended job settles its task; the job's other tasks go online."""
        started = job.get("submitted_at") or job.get("created_at") or utcnow()
        ids = set(job.get("task_ids") or [])
        lines = [line for line in adapter.results(seen) if line.task_id in ids]
        answered = {line.task_id for line in lines}
        outcome, reason = _ENDINGS.get(seen.state, _ENDINGS[JobState.FAILED])
        counts: Counter[str] = Counter()
        with ThreadPoolExecutor(SETTLE_THREADS) as pool:
            settled = list(pool.map(lambda line: self._line(job, line, started), lines))
            rest = sorted(ids - answered)
            moved = list(pool.map(lambda d: self._online(job, d, outcome, reason), rest))
        for names in [*settled, *moved]:
            counts.update(names)
        return counts

    def _line(self, job: dict[str, Any], line: LineResult, started: datetime) -> list[str]:
        """Settle one line; returns what to count (nothing when it was settled before)."""
        lane = self._lane(job, line.task_id)
        if line.completion is not None:
            status = self.exits.answered(line.task_id, job["job_id"], lane, line, started)
            if status is None:
                return []
            return ["succeeded"] if status == "succeeded" else ["moved_online"]
        code = line.error.code if line.error is not None else "batch_line"
        log(
            logger,
            logging.WARNING,
            "batch line failed",
            job_id=job["job_id"],
            code=code,
            text=line.error.message if line.error is not None else "",
        )
        # OpenAI answers the lines an expired or cancelled batch never ran with these codes:
        # the job's end, not the line's own failure.
        ended = _JOB_ENDS.get(code)
        outcome, reason = ended or (settle.BATCH_LINE_ERROR, f"{code}: {summary(code)}")
        moved = self.exits.online(line.task_id, job["job_id"], lane, outcome, reason)
        if not moved:
            return []
        return ["moved_online"] if ended else ["failed_lines", "moved_online"]

    def _online(self, job: dict[str, Any], doc_id: str, outcome: str, reason: str) -> list[str]:
        moved = self.exits.online(doc_id, job["job_id"], self._lane(job, doc_id), outcome, reason)
        return ["moved_online"] if moved else []

    def _lane(self, job: dict[str, Any], doc_id: str) -> Lane:
        """The job's provider and model (the hop is the settlement's: read from the task)."""
        return Lane(job["provider"], job["model"])
