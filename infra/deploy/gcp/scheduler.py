"""Cloud Scheduler jobs (through the client library): created, or updated in place."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

from infra.deploy.gcp.outcomes import CREATED, UNCHANGED, UPDATED
from infra.deploy.model import SchedulerJob


def _job_message(project: str, region: str, job: SchedulerJob) -> Any:
    from google.cloud import scheduler_v1

    return scheduler_v1.Job(
        name=f"projects/{project}/locations/{region}/jobs/{job.name}",
        description=job.description,
        schedule=job.schedule,
        time_zone=job.time_zone,
        pubsub_target=scheduler_v1.PubsubTarget(
            topic_name=f"projects/{project}/topics/{job.topic}", data=job.data.encode()
        ),
    )


def _job_state(message: Any) -> tuple[object, ...]:
    target = message.pubsub_target
    return (
        message.description,
        message.schedule,
        message.time_zone,
        target.topic_name,
        bytes(target.data),
    )


def apply_job(client: Any, project: str, region: str, job: SchedulerJob) -> str:
    """Create the job, or update it in place when its schedule, zone or target differ."""
    desired = _job_message(project, region, job)
    try:
        existing = client.get_job(name=desired.name)
    except gexc.NotFound:
        client.create_job(parent=f"projects/{project}/locations/{region}", job=desired)
        return CREATED
    if _job_state(existing) == _job_state(desired):
        return UNCHANGED
    mask = {"paths": ["description", "schedule", "time_zone", "pubsub_target"]}
    client.update_job(job=desired, update_mask=mask)
    return UPDATED
