"""How queued batch tasks become jobs: which provider and model take a task, the deterministic
job id, and the split of one provider+model's lines under the provider's limits."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared import fallback
from shared.providers.registry import SPECS
from shared.settings import TaskSettings

JOB_PREFIX = "bj_"


@dataclass(frozen=True)
class Lane:
    provider: str
    model: str


@dataclass(frozen=True)
class Line:
    doc_id: str
    data: bytes


def lane_for(settings: TaskSettings, task: dict[str, Any]) -> Lane | None:
    """The first provider of the task's chain that has a batch lane (and, for one that reads its
    input from Cloud Storage, a bucket), with the model the task would get there; None: no
    provider of its chain can batch it (it runs online)."""
    request = task.get("request") or {}
    for provider in task.get("chain") or []:
        spec = SPECS.get(provider)
        if spec is None or spec.batch is None:
            continue
        if spec.batch.needs_bucket and not settings.batch_bucket:
            continue  # its input and output live in the batch bucket
        model = fallback.model_for(
            settings, provider, request.get("model"), request.get("task_type")
        )
        return Lane(provider, model)
    return None


def job_id_for(provider: str, model: str, doc_ids: Iterable[str]) -> str:
    """`bj_` + a hash of the provider, the model and the sorted task ids: the same tasks give the
    same job id, so a duplicated trigger's claim collides with the first one's."""
    digest = hashlib.sha256("\n".join([provider, model, *sorted(doc_ids)]).encode())
    return JOB_PREFIX + digest.hexdigest()[:32]


def limits(settings: TaskSettings, provider: str) -> tuple[int, int]:
    """(lines, bytes) of one job: the provider's, or the settings' when lower."""
    spec = SPECS[provider].batch
    assert spec is not None
    lines, size = spec.max_lines, spec.max_bytes
    if settings.batch_max_lines:
        lines = min(lines, settings.batch_max_lines)
    if settings.batch_max_bytes:
        size = min(size, settings.batch_max_bytes)
    return lines, size


def split(lines: list[Line], max_lines: int, max_bytes: int) -> list[list[Line]]:
    """Consecutive groups (in task id order) of at most `max_lines` lines and `max_bytes` bytes;
    a line larger than `max_bytes` on its own is left out (it cannot go in any job)."""
    groups: list[list[Line]] = []
    current: list[Line] = []
    size = 0
    for line in sorted(lines, key=lambda item: item.doc_id):
        if len(line.data) > max_bytes:
            continue
        if current and (len(current) >= max_lines or size + len(line.data) > max_bytes):
            groups.append(current)
            current, size = [], 0
        current.append(line)
        size += len(line.data)
    if current:
        groups.append(current)
    return groups


def too_large(lines: list[Line], max_bytes: int) -> list[str]:
    """The tasks whose line alone exceeds a job's bytes (they go online)."""
    return [line.doc_id for line in lines if len(line.data) > max_bytes]
