"""The library half of `aiexec deploy`: Pub/Sub IAM, Cloud Scheduler jobs, Firestore indexes.

Each function reads the current state first and writes only what differs, so a second deploy
reports everything `unchanged`. Clients are parameters, so tests can hand in fakes.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

from infra.deploy.model import FieldOverride, FirestoreIndex, SchedulerJob

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
DATABASE = "(default)"


# --- Pub/Sub resource IAM ---------------------------------------------------------------


def grant_pubsub_role(client: Any, resource_path: str, role: str, members: tuple[str, ...]) -> str:
    """Add `members` to `role` on a topic or subscription (publisher/subscriber admin client).

    Read-modify-write with the policy's etag: a concurrent change makes the write fail
    instead of silently dropping the other writer's bindings.
    """
    policy = client.get_iam_policy(request={"resource": resource_path})
    binding = next(
        (b for b in policy.bindings if b.role == role and not b.condition.expression), None
    )
    if binding is None:
        binding = policy.bindings.add(role=role)
    missing = [m for m in members if m not in binding.members]
    if not missing:
        return UNCHANGED
    binding.members.extend(missing)
    client.set_iam_policy(request={"resource": resource_path, "policy": policy})
    return UPDATED


# --- Cloud Scheduler --------------------------------------------------------------------


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


# --- Firestore --------------------------------------------------------------------------


def _collection_path(project: str, collection: str) -> str:
    return f"projects/{project}/databases/{DATABASE}/collectionGroups/{collection}"


def _index_fields(index: Any) -> tuple[tuple[str, int], ...]:
    # Firestore appends `__name__` to every composite index; it is not part of the definition.
    return tuple((f.field_path, int(f.order)) for f in index.fields if f.field_path != "__name__")


def apply_index(client: Any, project: str, index: FirestoreIndex) -> str:
    """Create the composite index unless one with the same fields exists (building counts).

    Creation returns at once: Firestore builds the index in the background (minutes), and
    the queries that need it only run in the sweeper and `aiexec replay`.
    """
    from google.cloud import firestore_admin_v1 as admin

    order = {
        "ASCENDING": admin.Index.IndexField.Order.ASCENDING,
        "DESCENDING": admin.Index.IndexField.Order.DESCENDING,
    }
    wanted = tuple((path, int(order[direction])) for path, direction in index.fields)
    parent = _collection_path(project, index.collection)
    for existing in client.list_indexes(parent=parent):
        if (
            existing.query_scope == admin.Index.QueryScope.COLLECTION
            and _index_fields(existing) == wanted
        ):
            return UNCHANGED
    message = admin.Index(
        query_scope=admin.Index.QueryScope.COLLECTION,
        fields=[admin.Index.IndexField(field_path=p, order=o) for p, o in wanted],
    )
    client.create_index(parent=parent, index=message)
    return CREATED


def apply_field(client: Any, project: str, override: FieldOverride) -> str:
    """Exempt a field from indexing and/or turn on its TTL policy, when not already so."""
    from google.cloud import firestore_admin_v1 as admin

    name = f"{_collection_path(project, override.collection)}/fields/{override.field}"
    current = client.get_field(name=name)
    paths, desired = [], admin.Field(name=name)
    exempt = not current.index_config.uses_ancestor_config and not current.index_config.indexes
    if not override.indexed and not exempt:
        desired.index_config = admin.Field.IndexConfig(indexes=[])
        paths.append("index_config")
    ttl_on = current.ttl_config.state in (
        admin.Field.TtlConfig.State.ACTIVE,
        admin.Field.TtlConfig.State.CREATING,
    )
    if override.ttl and not ttl_on:
        desired.ttl_config = admin.Field.TtlConfig()
        paths.append("ttl_config")
    if not paths:
        return UNCHANGED
    client.update_field(field=desired, update_mask={"paths": paths})
    return UPDATED
