"""Firestore: the database (through `gcloud`, in the bootstrap), and the composite indexes and
single-field settings the queries and TTL policies need (through the admin client library)."""

from __future__ import annotations

from typing import Any

from infra.deploy.bootstrap import FirestoreDatabase
from infra.deploy.gcp.gcloud import GcloudError, Runner, describe_or_create
from infra.deploy.gcp.outcomes import CREATED, UNCHANGED, UPDATED
from infra.deploy.model import DATABASE, FieldOverride, FirestoreIndex


def database_describe_args(database: FirestoreDatabase, fields: str) -> tuple[str, ...]:
    return (
        "firestore",
        "databases",
        "describe",
        f"--database={database.name}",
        f"--format=value({fields})",
    )


def database_create_args(database: FirestoreDatabase) -> tuple[str, ...]:
    return (
        "firestore",
        "databases",
        "create",
        f"--database={database.name}",
        f"--location={database.location}",
        f"--type={database.type}",
    )


def ensure_database(run: Runner, project: str, database: FirestoreDatabase) -> str:
    """Create the Firestore database in native mode when missing; refuse a Datastore-mode one."""
    described = describe_or_create(
        run,
        project,
        database_describe_args(database, "type,locationId"),
        database_create_args(database),
        f"database {database.name}",
    )
    if described is None:
        return CREATED
    kind, _, location = described.strip().partition("\t")
    if kind.strip().upper() != database.type.upper().replace("-", "_"):
        raise GcloudError(
            f"Firestore database {database.name} of project {project} is {kind.strip()}, not "
            "FIRESTORE_NATIVE: the pipeline needs native mode (a database cannot be switched "
            "once it holds data; use another project)"
        )
    location = location.strip()
    if location and location != database.location:
        return f"unchanged (in {location}; a database cannot move)"
    return UNCHANGED


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
