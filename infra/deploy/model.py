"""The pieces of a production deployment, as plain immutable data (no cloud calls here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.topology import Topology
from shared.settings import Settings

PROJECT_NUMBER_PLACEHOLDER = "PROJECT_NUMBER"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


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

    def function_url(self, name: str) -> str:
        """The gen2 function URL; also the OIDC audience Pub/Sub puts in push tokens."""
        return f"https://{self.region}-{self.project}.cloudfunctions.net/{name}"


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
        return self.secret.split(":", 1)[1] if ":" in self.secret else "latest"

    def flag_value(self) -> str:
        return f"{self.env}={self.name}:{self.version}"


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


@dataclass(frozen=True, order=True)
class Binding:
    """`member` holds `role` on one resource. Kinds: project, topic, subscription,
    service-account, secret, function."""

    kind: str
    resource: str
    role: str
    member: str
    why: str = field(default="", compare=False)


@dataclass(frozen=True)
class SchedulerJob:
    name: str
    schedule: str  # cron
    time_zone: str  # IANA
    topic: str
    data: str  # the message body
    description: str


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
    warnings: tuple[str, ...] = ()

    def function(self, name: str) -> Function:
        return next(f for f in self.functions if f.name == name)

    def bindings_on(self, kind: str, resource: str) -> list[Binding]:
        return [b for b in self.bindings if (b.kind, b.resource) == (kind, resource)]
