"""What a provider's batch API must offer the lane (`shared/providers/<name>/batch.py`).

A job is named by OUR job id at the provider (OpenAI: batch metadata `aiexec_job_id` and the
input file `<job_id>.jsonl`; Vertex AI: the job's display name), so a batcher that died between
the provider call and recording it finds the job again (`find`) instead of submitting twice.
Each input line carries its task id where the provider's output echoes it (OpenAI `custom_id`,
Vertex AI `key`), so output lines are matched to tasks whatever their order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shared.providers.base import Completion, CompletionRequest, ProviderError


class JobState(StrEnum):
    """A job's state in `batch_jobs/{job_id}.state` (the provider's, normalised, and ours)."""

    PREPARING = "preparing"  # recorded on its tasks; not (known to be) submitted yet
    SUBMITTED = "submitted"
    RUNNING = "running"
    COMPLETED = "completed"  # the provider is done: its output is to be read
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FINISHED = "finished"  # every task of the job settled (ours: nothing left to do)

    @property
    def open(self) -> bool:
        """The provider may still be working on it."""
        return self in (JobState.SUBMITTED, JobState.RUNNING, JobState.CANCELLING)

    @property
    def ended(self) -> bool:
        """The provider is done with it; its output (if any) is final."""
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.EXPIRED, JobState.CANCELLED)


@dataclass(frozen=True)
class ProviderJob:
    """A job as the provider reports it."""

    provider_job_id: str
    state: JobState
    input_ref: str = ""  # OpenAI: input file id; Vertex AI: gs:// URI of the input
    output_ref: str = ""  # OpenAI: output file id; Vertex AI: gs:// prefix of the output
    error_ref: str = ""  # OpenAI: error file id
    message: str = ""  # why it failed, when the provider says


@dataclass(frozen=True)
class LineResult:
    """One output line: the task's completion, or the error the provider gave for it."""

    task_id: str
    completion: Completion | None = None
    error: ProviderError | None = None


class BatchProvider(Protocol):
    name: str

    def line(self, task_id: str, request: CompletionRequest) -> bytes:
        """One JSONL line (with its newline) for a task's request."""
        ...

    def find(self, job_id: str) -> ProviderJob | None:
        """The job submitted under our `job_id`, if the provider has one."""
        ...

    def submit(self, job_id: str, model: str, lines: bytes) -> ProviderJob:
        """Upload the input and create the job, named `job_id`."""
        ...

    def get(self, provider_job_id: str) -> ProviderJob: ...

    def cancel(self, provider_job_id: str) -> None: ...

    def results(self, job: ProviderJob) -> Iterator[LineResult]:
        """The output and error lines of an ended job (nothing when it has none)."""
        ...
