"""The pieces of a production deployment, as plain immutable data (no cloud calls here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from infra.settings import Settings
from infra.topology import Topology

if TYPE_CHECKING:
    from infra.deploy.bootstrap import Bootstrap

PROJECT_NUMBER_PLACEHOLDER = "PROJECT_NUMBER"
# The one Firestore database the code uses: its clients never name another one.
DATABASE = "(default)"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# A secret mounted as `latest` is pinned to the version current at deploy time, so a rotation
# (a new version) changes the function's configuration and rolls a new revision on the next
# deploy. A dry run, offline, cannot know the number yet.
LATEST = "latest"
UNRESOLVED = "<resolved at deploy>"


@dataclass(frozen=True)
class Target:
    """Where to deploy. Without `project_number` (a dry run) the service agents show it as
    PROJECT_NUMBER; `aiexec deploy` looks it up before applying."""

    project: str
    region: str
    project_number: str | None = None

    @property
    def number(self) -> str:
        return self.project_number or PROJECT_NUMBER_PLACEHOLDER

    def service_account_email(self, account_id: str) -> str:
        return f"{account_id}@{self.project}.iam.gserviceaccount.com"

    @property
    def pubsub_agent(self) -> str:
        """Google's Pub/Sub service agent: it dead-letters and mints push OIDC tokens."""
        return f"service-{self.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

    @property
    def scheduler_agent(self) -> str:
        """Google's Cloud Scheduler service agent: it publishes the scheduled messages."""
        return f"service-{self.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"

    @property
    def aiplatform_agent(self) -> str:
        """Vertex AI's service agent: it reads a batch job's input and writes its output."""
        return f"service-{self.number}@gcp-sa-aiplatform.iam.gserviceaccount.com"

    def function_url(self, name: str) -> str:
        """The gen2 function URL; also the OIDC audience Pub/Sub puts in push tokens."""
        return f"https://{self.region}-{self.project}.cloudfunctions.net/{name}"

    @property
    def source_bucket(self) -> str:
        """The bucket `gcloud builds submit` uploads the source to, and the build account
        fetches it from: `[PROJECT_ID]_cloudbuild`, with gcloud's own rewriting of the id
        (googlecloudsdk/command_lib/builds/staging_bucket_util.py, GetDefaultStagingBucket)."""
        safe = self.project.replace(":", "_").replace(".", "_").replace("google", "elgoog")
        return f"{safe}_cloudbuild"


def member(email: str) -> str:
    return email if email in PUBLIC_MEMBERS else f"serviceAccount:{email}"


@dataclass(frozen=True)
class ServiceAccount:
    account_id: str
    email: str
    purpose: str


@dataclass(frozen=True)
class SecretRef:
    """A Secret Manager secret mounted as an environment variable (`--set-secrets`)."""

    env: str
    secret: str  # `name` or `name:version`

    @property
    def name(self) -> str:
        return self.secret.split(":", 1)[0]

    @property
    def version(self) -> str:
        return self.secret.split(":", 1)[1] if ":" in self.secret else LATEST

    @property
    def pinned(self) -> bool:
        return self.version != LATEST

    def pin(self, version: str) -> SecretRef:
        return self if self.pinned else SecretRef(self.env, f"{self.name}:{version}")

    def flag_value(self) -> str:
        return f"{self.env}={self.name}:{self.version if self.pinned else UNRESOLVED}"


@dataclass(frozen=True)
class Function:
    name: str
    bundle: str  # infra.bundles bundle name (its directory)
    entry_point: str
    service_account: str  # email of the runtime identity
    timeout_s: int
    memory: str
    cpu: str
    max_instances: int
    concurrency: int
    public: bool = False  # allUsers may invoke (ingest with API keys only)
    invokers: tuple[str, ...] = ()  # emails granted roles/run.invoker (the push identity)
    push_subscription: str | None = None  # the subscription that delivers to it
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    note: str = ""  # shown in the plan (the callbacks function's egress)


@dataclass(frozen=True, order=True)
class Condition:
    """An IAM condition (CEL): the binding grants its role only where `expression` holds."""

    title: str
    expression: str
    description: str = field(default="", compare=False)


@dataclass(frozen=True, order=True)
class Binding:
    """`member` holds `role` on one resource, where `condition` (if any) holds. Kinds:
    project, topic, subscription, service-account, secret, function, bucket (its name)."""

    kind: str
    resource: str
    role: str
    member: str
    why: str = field(default="", compare=False)
    condition: Condition | None = None

    @property
    def sort_key(self) -> tuple[str, str, str, str, str]:
        expression = self.condition.expression if self.condition else ""
        return (self.kind, self.resource, self.role, self.member, expression)


@dataclass(frozen=True)
class CustomRole:
    """A project-level custom role: exactly `permissions`, where no predefined role is narrow
    enough (`projects/PROJECT/roles/ROLE_ID`)."""

    role_id: str
    title: str
    description: str
    permissions: tuple[str, ...]

    def name(self, project: str) -> str:
        return f"projects/{project}/roles/{self.role_id}"


@dataclass(frozen=True)
class SchedulerJob:
    name: str
    schedule: str  # cron
    time_zone: str  # IANA
    topic: str
    data: str  # the message body
    description: str


@dataclass(frozen=True)
class BatchBucket:
    """The batch lane's Cloud Storage bucket: job files under `prefix` (`batch/<job_id>/`),
    deleted `delete_after_days` after their creation by a lifecycle rule."""

    name: str
    location: str
    prefix: str
    delete_after_days: int

    def lifecycle(self) -> dict[str, object]:
        """The lifecycle configuration (the JSON `gcloud storage buckets update
        --lifecycle-file` takes): delete objects under the prefix once they are that old."""
        condition = {"age": self.delete_after_days, "matchesPrefix": [self.prefix]}
        return {"rule": [{"action": {"type": "Delete"}, "condition": condition}]}


@dataclass(frozen=True)
class FirestoreIndex:
    collection: str
    fields: tuple[tuple[str, str], ...]  # (field path, ASCENDING|DESCENDING)


@dataclass(frozen=True)
class FieldOverride:
    """A single-field setting: `indexed=False` exempts it from indexing; `ttl` expires docs."""

    collection: str
    field: str
    indexed: bool = True
    ttl: bool = False


@dataclass(frozen=True)
class Production:
    target: Target
    settings: Settings
    topology: Topology
    push_account: ServiceAccount
    service_accounts: tuple[ServiceAccount, ...]  # push_account included
    functions: tuple[Function, ...]  # in deploy order: consumers before their producers
    bindings: tuple[Binding, ...]
    jobs: tuple[SchedulerJob, ...]
    indexes: tuple[FirestoreIndex, ...]
    field_overrides: tuple[FieldOverride, ...]
    bootstrap: Bootstrap
    warnings: tuple[str, ...] = ()
    batch_bucket: BatchBucket | None = None  # None: no bucket set, Vertex AI tasks run online

    def function(self, name: str) -> Function:
        return next(f for f in self.functions if f.name == name)

    def bindings_on(self, kind: str, resource: str) -> list[Binding]:
        return [b for b in self.bindings if (b.kind, b.resource) == (kind, resource)]

    @property
    def unpinned_secrets(self) -> tuple[str, ...]:
        """Secrets mounted as `latest`, to be resolved to a version number before applying."""
        names = {s.name for fn in self.functions for s in fn.secrets if not s.pinned}
        return tuple(sorted(names))

    def with_secret_versions(self, versions: Mapping[str, str]) -> Production:
        """Every `latest` secret pinned to `versions[name]` (the version current now)."""
        functions = tuple(
            replace(
                fn, secrets=tuple(s if s.pinned else s.pin(versions[s.name]) for s in fn.secrets)
            )
            for fn in self.functions
        )
        return replace(self, functions=functions)
