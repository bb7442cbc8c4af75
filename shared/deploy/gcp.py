"""The library half of `aiexec deploy`: Pub/Sub IAM, Cloud Scheduler jobs, Firestore indexes,
and, through `gcloud`, the bootstrap (APIs, the Firestore database, secrets, the custom role,
the source bucket) and project IAM grants that read the policy before they change it.

Each function reads the current state first and writes only what differs, so a second deploy
reports everything `unchanged`. Clients are parameters, so tests can hand in fakes.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc

from infra.deploy.bootstrap import (
    FirestoreDatabase,
    GeneratedSecret,
    RequiredSecret,
    SourceBucket,
)
from infra.deploy.model import (
    DATABASE,
    Binding,
    Condition,
    CustomRole,
    FieldOverride,
    FirestoreIndex,
    SchedulerJob,
)

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
_CONDITION_DELIMITERS = (";", "#", "~", "@", "!")  # gcloud's `^D^` escaping (topic escaping)


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


# --- the bootstrap: APIs, the database, secrets (through `gcloud`, behind a runner) -------
#
# `run` has the signature of `subprocess.run`; tests hand in a fake that answers like gcloud.

Runner = Callable[..., subprocess.CompletedProcess[str]]
GCLOUD = "gcloud"
ENABLED = "ENABLED"


class GcloudError(RuntimeError):
    """A gcloud call failed, or what it found cannot be used; the message says what to do."""


def gcloud(
    run: Runner, project: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [GCLOUD, *args, f"--project={project}", "--quiet"]
    if stdin is None:
        return run(argv, capture_output=True, text=True, check=False)
    return run(argv, capture_output=True, text=True, check=False, input=stdin)


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def _not_found(stderr: str) -> bool:
    return "NOT_FOUND" in stderr or "not found" in stderr.lower()


def _api_disabled(stderr: str) -> bool:
    text = stderr.lower()
    return "service_disabled" in text or "has not been used" in text or "it is disabled" in text


def enabled_services(run: Runner, project: str) -> set[str]:
    done = gcloud(run, project, "services", "list", "--enabled", "--format=value(config.name)")
    if done.returncode != 0:
        raise GcloudError(f"cannot list the enabled APIs: {_last_line(done.stderr)}")
    return {line.strip() for line in done.stdout.splitlines() if line.strip()}


def ensure_services(run: Runner, project: str, services: tuple[str, ...]) -> str:
    """Enable the APIs of `services` that are not enabled yet."""
    missing = [name for name in services if name not in enabled_services(run, project)]
    if not missing:
        return UNCHANGED
    done = gcloud(run, project, "services", "enable", *missing)
    if done.returncode != 0:
        raise GcloudError(
            f"cannot enable {', '.join(missing)}: {_last_line(done.stderr)} (a project owner "
            "runs `aiexec deploy --bootstrap-only` once)"
        )
    return f"enabled {', '.join(missing)}"


def ensure_database(run: Runner, project: str, database: FirestoreDatabase) -> str:
    """Create the Firestore database in native mode when missing; refuse a Datastore-mode one."""
    described = gcloud(
        run,
        project,
        "firestore",
        "databases",
        "describe",
        f"--database={database.name}",
        "--format=value(type,locationId)",
    )
    if described.returncode != 0:
        if not _not_found(described.stderr):
            raise GcloudError(
                f"cannot read database {database.name}: {_last_line(described.stderr)}"
            )
        created = gcloud(
            run,
            project,
            *database_create_args(database),
        )
        if created.returncode != 0:
            raise GcloudError(
                f"cannot create database {database.name}: {_last_line(created.stderr)}"
            )
        return CREATED
    kind, _, location = described.stdout.strip().partition("\t")
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


def database_create_args(database: FirestoreDatabase) -> tuple[str, ...]:
    return (
        "firestore",
        "databases",
        "create",
        f"--database={database.name}",
        f"--location={database.location}",
        f"--type={database.type}",
    )


@dataclass(frozen=True)
class SecretLookup:
    """The `latest` version of a secret: its number when enabled, else what is wrong."""

    name: str
    version: str | None = None
    problem: str = ""  # "" | "missing" | "disabled" | "api-disabled" | "error"
    detail: str = ""


def latest_secret_version(run: Runner, project: str, name: str) -> SecretLookup:
    done = gcloud(
        run,
        project,
        "secrets",
        "versions",
        "describe",
        "latest",
        f"--secret={name}",
        "--format=value(name,state)",
    )
    if done.returncode != 0:
        if _api_disabled(done.stderr):
            return SecretLookup(name, problem="api-disabled", detail=_last_line(done.stderr))
        if _not_found(done.stderr):
            return SecretLookup(name, problem="missing")
        return SecretLookup(name, problem="error", detail=_last_line(done.stderr))
    path, _, state = done.stdout.strip().partition("\t")
    number = path.strip().rsplit("/", 1)[-1]
    if state.strip() != ENABLED:
        return SecretLookup(name, problem="disabled", detail=f"version {number} is {state.strip()}")
    return SecretLookup(name, version=number)


def secret_refusal(lookup: SecretLookup, secret: RequiredSecret, project: str) -> str:
    """Why a required secret cannot be mounted, with the command that fixes it."""
    users = ", ".join(secret.functions)
    what = f"secret {secret.name} ({secret.env} of {users})"
    create = secret.create_command(project)
    if lookup.problem == "missing":
        return f"{what} does not exist (or has no version); create it: {create}"
    if lookup.problem == "api-disabled":
        return (
            f"cannot check {what}: the Secret Manager API is not enabled; enable it "
            f"(gcloud services enable secretmanager.googleapis.com --project={project}), then "
            f"create the secret: {create}"
        )
    if lookup.problem == "disabled":
        return (
            f"{what}: its latest {lookup.detail}; enable it or add a version: "
            f'printf %s "${secret.env}" | gcloud secrets versions add {secret.name} '
            f"--data-file=- --project={project}"
        )
    return f"cannot check {what}: {lookup.detail}"


def check_required_secret(run: Runner, project: str, secret: RequiredSecret) -> str:
    lookup = latest_secret_version(run, project, secret.name)
    if lookup.version is None:
        raise GcloudError(secret_refusal(lookup, secret, project))
    return f"present (version {lookup.version})"


def ensure_generated_secret(
    run: Runner,
    project: str,
    secret: GeneratedSecret,
    token: Callable[[int], str] = secrets.token_urlsafe,
) -> str:
    """Create the secret with `random_bytes` random bytes (URL-safe base64 text) when it has no
    version; never replace one that exists: every stored API-key hash depends on the pepper."""
    lookup = latest_secret_version(run, project, secret.name)
    if lookup.version is not None:
        return f"{UNCHANGED} (version {lookup.version}; never regenerated)"
    if lookup.problem == "disabled":
        raise GcloudError(
            f"secret {secret.name}: its latest {lookup.detail}; it is not replaced by a new "
            "random value (the stored API keys depend on it): enable that version"
        )
    if lookup.problem != "missing":
        raise GcloudError(f"cannot check secret {secret.name}: {lookup.detail}")
    exists = gcloud(run, project, "secrets", "describe", secret.name, "--format=value(name)")
    value = token(secret.random_bytes)
    if exists.returncode == 0:
        args: tuple[str, ...] = ("secrets", "versions", "add", secret.name, "--data-file=-")
    else:
        args = ("secrets", "create", secret.name, "--replication-policy=automatic", "--data-file=-")
    done = gcloud(run, project, *args, stdin=value)
    if done.returncode != 0:
        raise GcloudError(f"cannot create secret {secret.name}: {_last_line(done.stderr)}")
    return f"{CREATED} ({secret.random_bytes} random bytes)"


def resolve_secret_versions(run: Runner, project: str, names: tuple[str, ...]) -> dict[str, str]:
    """The version number `latest` points at now, for each secret (pinned into the deploy)."""
    versions, problems = {}, []
    for name in names:
        lookup = latest_secret_version(run, project, name)
        if lookup.version is None:
            problems.append(f"{name}: {lookup.problem} {lookup.detail}".strip())
        else:
            versions[name] = lookup.version
    if problems:
        raise GcloudError("cannot pin secret versions: " + "; ".join(problems))
    return versions


# --- IAM conditions, project grants, the custom role, the source bucket -------------------


def condition_flag(condition: Condition | None) -> str:
    """gcloud's `--condition`: `None` for an unconditional grant; else the expression, title
    and description with the `^D^` escaping gcloud documents for values that hold commas
    (`gcloud projects add-iam-policy-binding --help`, `gcloud topic escaping`)."""
    if condition is None:
        return "--condition=None"
    pairs = [("expression", condition.expression), ("title", condition.title)]
    if condition.description:
        pairs.append(("description", condition.description))
    delimiter = next(d for d in _CONDITION_DELIMITERS if not any(d in v for _, v in pairs))
    return f"--condition=^{delimiter}^" + delimiter.join(f"{k}={v}" for k, v in pairs)


def project_binding_args(project: str, binding: Binding, verb: str = "add") -> tuple[str, ...]:
    """`gcloud projects add-iam-policy-binding …` (or `remove-`) for a project binding."""
    return (
        "projects",
        f"{verb}-iam-policy-binding",
        project,
        f"--member={binding.member}",
        f"--role={binding.role}",
        condition_flag(binding.condition),
        "--format=none",
    )


def project_policy(run: Runner, project: str) -> dict[str, Any]:
    done = gcloud(run, project, "projects", "get-iam-policy", project, "--format=json")
    if done.returncode != 0:
        raise GcloudError(f"cannot read the IAM policy of {project}: {_last_line(done.stderr)}")
    policy: dict[str, Any] = json.loads(done.stdout or "{}")
    return policy


def _condition_of(entry: dict[str, Any]) -> Condition | None:
    raw = entry.get("condition")
    if not raw:
        return None
    return Condition(raw.get("title", ""), raw.get("expression", ""), raw.get("description", ""))


def _same(found: Condition | None, wanted: Condition | None) -> bool:
    if found is None or wanted is None:
        return found is wanted
    return (found.expression, found.title) == (wanted.expression, wanted.title)


def ensure_project_binding(run: Runner, project: str, binding: Binding) -> str:
    """Grant `binding` unless the policy already holds it (same condition); a conditional grant
    replaces the same role for the same member held without a condition or under an older
    expression of the same title: next to an unconditional grant, a condition narrows nothing."""
    entries = [
        e
        for e in project_policy(run, project).get("bindings", [])
        if e.get("role") == binding.role and binding.member in e.get("members", [])
    ]
    wanted = binding.condition
    present = any(_same(_condition_of(e), wanted) for e in entries)
    stale = [
        found
        for found in (_condition_of(e) for e in entries)
        if wanted is not None
        and not _same(found, wanted)
        and (found is None or found.title == wanted.title)
    ]
    outcome = []
    if not present:
        _must(run, project, project_binding_args(project, binding), f"grant {binding.role}")
        outcome.append("granted")
    for found in stale:
        old = Binding(binding.kind, binding.resource, binding.role, binding.member, "", found)
        args = project_binding_args(project, old, "remove")
        _must(run, project, args, f"revoke the older grant of {binding.role}")
        outcome.append("unconditional grant revoked" if found is None else "old condition revoked")
    return "; ".join(outcome) or UNCHANGED


def revoke_project_role(run: Runner, project: str, binding: Binding) -> str:
    """Remove every grant of `binding.role` to `binding.member`, whatever its condition."""
    held = any(
        e.get("role") == binding.role and binding.member in e.get("members", [])
        for e in project_policy(run, project).get("bindings", [])
    )
    if not held:
        return UNCHANGED
    args = ("projects", "remove-iam-policy-binding", project, f"--member={binding.member}",
            f"--role={binding.role}", "--all", "--format=none")  # fmt: skip
    _must(run, project, args, f"revoke {binding.role}")
    return "revoked"


def _must(run: Runner, project: str, args: tuple[str, ...], what: str) -> None:
    done = gcloud(run, project, *args)
    if done.returncode != 0:
        raise GcloudError(f"cannot {what}: {_last_line(done.stderr)}")


def custom_role_args(role: CustomRole, verb: str = "create") -> tuple[str, ...]:
    return (
        "iam",
        "roles",
        verb,
        role.role_id,
        f"--title={role.title}",
        f"--description={role.description}",
        f"--permissions={','.join(role.permissions)}",
        "--stage=GA",
        "--format=none",
    )


def ensure_custom_role(run: Runner, project: str, role: CustomRole) -> str:
    """Create the project's custom role, or bring a drifted (or deleted) one back to exactly
    `role.permissions`."""
    done = gcloud(run, project, "iam", "roles", "describe", role.role_id, "--format=json")
    if done.returncode != 0:
        if not _not_found(done.stderr):
            raise GcloudError(f"cannot read role {role.role_id}: {_last_line(done.stderr)}")
        _must(run, project, custom_role_args(role), f"create role {role.role_id}")
        return CREATED
    found = json.loads(done.stdout or "{}")
    outcome = UNCHANGED
    if found.get("deleted"):
        _must(run, project, ("iam", "roles", "undelete", role.role_id, "--format=none"),
              f"undelete role {role.role_id}")  # fmt: skip
        outcome = UPDATED
    if sorted(found.get("includedPermissions", [])) != sorted(role.permissions):
        _must(run, project, custom_role_args(role, "update"), f"update role {role.role_id}")
        outcome = UPDATED
    return outcome


def bucket_create_args(bucket: SourceBucket) -> tuple[str, ...]:
    return (
        "storage",
        "buckets",
        "create",
        f"gs://{bucket.name}",
        f"--location={bucket.location}",
        "--uniform-bucket-level-access",
    )


def ensure_bucket(run: Runner, project: str, bucket: SourceBucket) -> str:
    """The build source bucket exists (gcloud would create it on the first submit; the build
    accounts' access to it is granted now, so the bootstrap creates it first)."""
    done = gcloud(run, project, "storage", "buckets", "describe", f"gs://{bucket.name}",
                  "--format=value(name)")  # fmt: skip
    if done.returncode == 0:
        return UNCHANGED
    if not _not_found(done.stderr):
        raise GcloudError(
            f"cannot read bucket gs://{bucket.name} (owned by another project?): "
            f"{_last_line(done.stderr)}"
        )
    _must(run, project, bucket_create_args(bucket), f"create gs://{bucket.name}")
    return CREATED


# --- what a deploy checks of the bootstrap (read-only: the deployer may do it) -------------


def service_account_exists(run: Runner, project: str, email: str) -> bool:
    """True when `email` can be read: for the deployer, exactly the identities it may act as
    (Service Account User, granted per identity, includes `iam.serviceAccounts.get`)."""
    done = gcloud(run, project, "iam", "service-accounts", "describe", email,
                  "--format=value(email)")  # fmt: skip
    return done.returncode == 0


def secret_members(run: Runner, project: str, name: str, role: str) -> set[str] | None:
    """Who holds `role` on the secret (None: the policy cannot be read)."""
    done = gcloud(run, project, "secrets", "get-iam-policy", name, "--format=json")
    if done.returncode != 0:
        return None
    policy = json.loads(done.stdout or "{}")
    return {m for b in policy.get("bindings", []) if b.get("role") == role for m in b["members"]}
