"""The batch lane's runtime section: where its jobs are kept, how often they are gathered and
polled, and how large one job may grow (shared/batch/).

Read by the batcher and the poller (and by the tooling: the scheduler job, the topology, the
local stack); composed into `TaskSettings` (shared/settings.py). The batch deadlines a task is
given live in the core section (`batch_deadline_s`, `batch_online_margin_s`), which ingest and
the sweeper read too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

CrashPoint = Literal["claimed", "submitted"]


class BatchSettings(BaseSettings):
    topic_batch_requests: str = Field(
        "batch-requests",
        description="Trigger topic of the batch lane (Cloud Scheduler; `aiexec batch flush`): "
        "its two push subscriptions run the batcher (submits jobs) and the poller (finishes "
        "them).",
    )
    collection_batch_jobs: str = Field(
        "batch_jobs", description="Firestore collection of the batch lane's jobs."
    )
    batch_schedule: str = Field(
        "*/5 * * * *",
        description="Cloud Scheduler cron of the `batch-requests` trigger (gather and poll).",
    )
    batch_bucket: str | None = Field(
        None,
        description="Cloud Storage bucket of Vertex AI batch jobs' input and output "
        "(`gs://<bucket>/batch/<job_id>/`); unset: Vertex AI tasks are not batched (they run "
        "online). The local stack sets its storage emulator's bucket.",
    )
    batch_max_lines: int = Field(
        0,
        ge=0,
        description="Lines per batch job, below the provider's own limit (0: the provider's: "
        "OpenAI 50,000, Vertex AI 200,000).",
    )
    batch_max_bytes: int = Field(
        0,
        ge=0,
        description="Bytes of one job's input file, below the provider's own limit (0: the "
        "provider's: OpenAI 200 MB, Vertex AI 1 GB).",
    )
    batch_gather_limit: int = Field(
        100_000,
        ge=1,
        description="Queued batch tasks one batcher run reads (the rest wait for the next run).",
    )
    batch_submit_lease_s: float = Field(
        300.0,
        gt=0,
        description="How long a batcher owns a job it is submitting; a job still `preparing` "
        "after this is looked up at the provider and submitted by the next run if absent.",
    )
    batch_poll_lease_s: float = Field(
        300.0,
        gt=0,
        description="How long a poller run owns a job it reads and settles (another run skips "
        "it meanwhile); a run that died is taken over after this.",
    )
    batch_crash_at: CrashPoint | None = Field(
        None,
        description="Tests of the local stack only: the batcher process exits at this point of "
        "a submission (`claimed`: tasks and job recorded, provider not called; `submitted`: "
        "provider job created, not yet recorded).",
    )
