"""The batcher: queued batch tasks → provider batch jobs, each task submitted at most once.

One run (a `batch-requests` message): first the jobs left `preparing` by a run that died are
reconciled (looked up at the provider by our job id; submitted only if absent), then the queued
batch tasks are grouped per provider and model (the first batch-capable provider of each task's
chain), their lines built by the provider's batch adapter, split under its limits, and each
group claimed (shared/firestore/batches.py) BEFORE the provider is called. A task no lane can
take (no batch provider in its chain, a line larger than a job, a request that cannot be
written, a deadline too near for a job) goes to the online lane instead.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.attachments.resolve import FileReadingProvider
from shared.batch import settle
from shared.batch.jobs import Lane, Line, job_id_for, lane_for, limits, split, too_large
from shared.batch.outcomes import LaneParts
from shared.batch.provider import JobState, ProviderJob
from shared.clock import utcnow
from shared.fallback import seconds_left
from shared.firestore.batches import QueuedTask
from shared.prompts import completion_request
from shared.providers.base import ProviderError, ProviderFatalError
from shared.providers.registry import SPECS
from shared.structured_logs import log

logger = logging.getLogger(__name__)
CRASH_EXIT = 70  # the exit status of a crash the tests ask for (AIEXEC_BATCH_CRASH_AT)


@dataclass
class BatchRun:
    """What one run did (for logs and tests)."""

    submitted: list[str] = field(default_factory=list)  # job ids
    reconciled: list[str] = field(default_factory=list)
    online: list[str] = field(default_factory=list)  # task document ids moved online


class Batcher:
    def __init__(self, parts: LaneParts, reader: Callable[[str], bytes] | None = None) -> None:
        self.settings, self.jobs, self.exits = parts.settings, parts.jobs, parts.exits
        self.adapter = parts.adapter
        self.reader = reader  # how attachments are read (None: shared/attachments' reader)

    def run(self) -> BatchRun:
        report = BatchRun()
        self.reconcile(report)
        self.gather(report)
        return report

    def reconcile(self, report: BatchRun) -> None:
        """Jobs left `preparing` (their batcher died, or the provider call failed): found at the
        provider → recorded; absent → submitted now, under the same job id."""
        for job in self.jobs.jobs_in([JobState.PREPARING.value]):
            taken = self.jobs.take_submission(job["job_id"], self.settings.batch_submit_lease_s)
            if taken is None:
                continue  # another run holds it, or it moved on
            adapter = self.adapter(taken["provider"])
            try:
                found = adapter.find(taken["job_id"])
            except ProviderError as error:
                self._release(taken["job_id"], error)
                continue
            if found is not None:
                self._record(taken, found)
            else:
                tasks = self.jobs.get_many(list(taken.get("task_ids") or []))
                lines = self._lines_of(taken, tasks)
                self._submit(taken, lines, report)
            report.reconciled.append(taken["job_id"])

    def gather(self, report: BatchRun) -> None:
        groups: dict[Lane, list[tuple[QueuedTask, Line]]] = defaultdict(list)
        margin = self.settings.batch_online_margin_s
        now = utcnow()
        for queued in self.jobs.queued_batch_tasks(self.settings.batch_gather_limit):
            lane = lane_for(self.settings, queued.task)
            left = seconds_left(queued.task, now)
            if lane is None:
                self._online(
                    queued.doc_id, queued.task, "no provider of its chain has a batch lane", report
                )
            elif left is not None and left < margin:
                self._online(
                    queued.doc_id,
                    queued.task,
                    "too little time left for a batch job",
                    report,
                    outcome=settle.BATCH_DEADLINE,
                )
            else:
                line = self._line(lane, queued.doc_id, queued.task)
                if line is None:
                    self._online(
                        queued.doc_id, queued.task, "its request cannot be batched", report
                    )
                else:
                    groups[lane].append((queued, line))
        for key, members in groups.items():
            self._jobs_for(key, members, report)

    def _jobs_for(
        self, key: Lane, members: list[tuple[QueuedTask, Line]], report: BatchRun
    ) -> None:
        max_lines, max_bytes = limits(self.settings, key.provider)
        lines = [line for _, line in members]
        by_doc = {queued.doc_id: queued for queued, _ in members}
        for doc_id in too_large(lines, max_bytes):
            self._online(
                doc_id, by_doc[doc_id].task, "its request is larger than a batch job", report
            )
        for group in split(lines, max_lines, max_bytes):
            ids = [line.doc_id for line in group]
            job = _new_job(job_id_for(key.provider, key.model, ids), key, group, by_doc)
            claimed = self.jobs.claim(job, [by_doc[i] for i in ids], self._lease())
            if not claimed:
                log(
                    logger,
                    logging.INFO,
                    "batch job not claimed (tasks taken or job exists)",
                    job_id=job["job_id"],
                )
                continue
            self._crash("claimed")
            kept = [line for line in group if line.doc_id in claimed]
            self._submit(job, kept, report, claimed)

    def _submit(
        self,
        job: dict[str, Any],
        lines: list[Line],
        report: BatchRun,
        claimed: Mapping[str, datetime] | None = None,
    ) -> None:
        job_id = job["job_id"]
        if not lines:
            self.jobs.update_job(job_id, state=JobState.FINISHED.value, finished_at=utcnow())
            return
        payload = b"".join(line.data for line in lines)
        try:
            made = self.adapter(job["provider"]).submit(job_id, job["model"], payload)
        except ProviderFatalError as error:
            self._give_up(job, lines, error, report)
            return
        except ProviderError as error:
            self._release(job_id, error)
            return
        self._crash("submitted")
        self._record(job, made, claimed)
        report.submitted.append(job_id)
        log(
            logger,
            logging.INFO,
            "batch job submitted",
            job_id=job_id,
            provider=job["provider"],
            model=job["model"],
            tasks=len(lines),
            bytes=len(payload),
        )

    def _record(
        self, job: dict[str, Any], made: ProviderJob, claimed: Mapping[str, datetime] | None = None
    ) -> None:
        """The provider's job on ours, then on its tasks (`claimed`: the update times of this
        run's claim, so the tasks are marked without reading them again)."""
        now = utcnow()
        refs = _refs(made)
        state = made.state if made.state is not JobState.PREPARING else JobState.SUBMITTED
        self.jobs.update_job(
            job["job_id"],
            state=state.value,
            provider_job_id=made.provider_job_id,
            submitted_at=now,
            lease_until=None,
            **refs,
        )
        ids = list(job.get("task_ids") or [])
        marked = {"state": "submitted", "submitted_at": now}
        self.jobs.mark_tasks(ids, job["job_id"], marked, claimed)

    def _give_up(
        self, job: dict[str, Any], lines: list[Line], error: ProviderError, report: BatchRun
    ) -> None:
        """The provider refuses batch jobs (credentials, configuration): its tasks run online."""
        log(
            logger,
            logging.ERROR,
            "batch submission refused; tasks go online",
            job_id=job["job_id"],
            code=error.code,
        )
        lane = Lane(job["provider"], job["model"])
        for line in lines:
            if self.exits.online(
                line.doc_id,
                job["job_id"],
                lane,
                settle.BATCH_FAILED,
                "the provider refused the batch job",
            ):
                report.online.append(line.doc_id)
        self.jobs.update_job(
            job["job_id"], state=JobState.FINISHED.value, finished_at=utcnow(), error=error.code
        )

    def _release(self, job_id: str, error: ProviderError) -> None:
        """A passing failure: the job stays `preparing`, free for the next run to reconcile."""
        log(
            logger,
            logging.WARNING,
            "batch submission failed; retried next run",
            job_id=job_id,
            code=error.code,
        )
        self.jobs.update_job(job_id, lease_until=None)

    def _online(
        self,
        doc_id: str,
        task: dict[str, Any],
        reason: str,
        report: BatchRun,
        outcome: str = settle.BATCH_UNAVAILABLE,
    ) -> None:
        chain = list(task.get("chain") or [])
        lane = lane_for(self.settings, task) or Lane(chain[0] if chain else "", "")
        if self.exits.online(doc_id, None, lane, outcome, reason):
            report.online.append(doc_id)

    def _line(self, lane: Lane, doc_id: str, task: dict[str, Any]) -> Line | None:
        """The task's JSONL line for `lane`'s provider (its files read first unless the
        provider reads their scheme itself); None when it cannot be written."""
        spec = SPECS[lane.provider]
        adapter = self.adapter(lane.provider)
        try:
            call = completion_request(task.get("request") or {}, lane.model)
            files = FileReadingProvider(
                adapter,  # type: ignore[arg-type]  # only its name is read
                self.settings,
                spec.native_file_schemes,
                self.reader,
            )
            return Line(doc_id, adapter.line(doc_id, files.resolve(call)))
        except Exception as error:  # noqa: BLE001 - any reason: the online lane classifies it
            log(logger, logging.WARNING, "batch line not written", reason=type(error).__name__)
            return None

    def _lines_of(self, job: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> list[Line]:
        lane = Lane(job["provider"], job["model"])
        lines = []
        for doc_id, task in tasks.items():
            batch = task.get("batch") or {}
            if task.get("status") == "batched" and batch.get("job_id") == job["job_id"]:
                line = self._line(lane, doc_id, task)
                if line is not None:
                    lines.append(line)
        return lines

    def _lease(self) -> float:
        return self.settings.batch_submit_lease_s

    def _crash(self, point: str) -> None:
        """A test's crash (AIEXEC_BATCH_CRASH_AT): the process ends here, as if killed."""
        if self.settings.batch_crash_at == point:
            log(logger, logging.WARNING, "crashing on purpose", point=point)
            os._exit(CRASH_EXIT)


def _new_job(
    job_id: str, lane: Lane, lines: list[Line], by_doc: dict[str, QueuedTask]
) -> dict[str, Any]:
    now = utcnow()
    ids = [line.doc_id for line in lines]
    deadlines = [by_doc[i].task["deadline_at"] for i in ids if by_doc[i].task.get("deadline_at")]
    return {
        "job_id": job_id,
        "provider": lane.provider,
        "model": lane.model,
        "state": JobState.PREPARING.value,
        "provider_job_id": None,
        "task_ids": ids,
        "task_count": len(ids),
        "bytes": sum(len(line.data) for line in lines),
        "created_at": now,
        "submitted_at": None,
        "completed_at": None,
        "deadline_at": min(deadlines, default=now + timedelta(days=1)),
        "finished_at": None,
        "counts": {"succeeded": 0, "failed_lines": 0, "moved_online": 0},
    }


def _refs(made: ProviderJob) -> dict[str, str]:
    """The provider's names of the job's files: Cloud Storage URIs or OpenAI file ids."""
    refs: dict[str, str] = {}
    for kind, value in (
        ("input", made.input_ref),
        ("output", made.output_ref),
        ("error", made.error_ref),
    ):
        if value:
            refs[f"{kind}_uri" if value.startswith("gs://") else f"{kind}_file_id"] = value
    return refs
