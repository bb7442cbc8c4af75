"""Least-privilege IAM: who may do what, derived from the topology and the functions.

Each runtime identity gets Firestore access and `roles/pubsub.publisher` only on the topics its
code publishes to. Firestore access is `roles/datastore.user` **on the `(default)` database
only**: an IAM condition on the database's `resource.name`
(`projects/PROJECT_ID/databases/(default)`), Firestore's way to give access to one database of a
project (multiple databases, https://cloud.google.com/firestore/docs/manage-databases , read
2026-11-29; the same expression is what public deployments grant `datastore.user` with), so a
database added to the project later is out of the functions' reach. Narrower than that the
platform does not go: IAM has no per-collection or per-document roles for Firestore, and
Security Rules do not apply to the server client libraries, which authorise with IAM alone
("Security for server client libraries", https://cloud.google.com/firestore/docs/security/iam ,
read 2026-11-29).
Every function writes (ingest and ingest-events create tasks, workers and the finalizer finish
them, the sweeper re-publishes and expires, the report stores its document), so none can take
the read-only `roles/datastore.viewer`; the callbacks function records each delivery on its
task and reads a client's signing secret from its API key's document (`api_keys`), which the
same database-wide role covers.

The batch lane's functions (`batcher`, `poller`) may read and write only their prefix of the
batch bucket (`batch/`: an IAM condition on the object's `resource.name`), and Vertex AI's
service agent, which runs a Vertex AI batch job, may read its input and create its output there,
under the same condition.

Google's Pub/Sub service agent gets what dead-lettering needs — publisher on every dead-letter
topic and subscriber on every subscription that dead-letters (without both, Pub/Sub silently
keeps redelivering) — and token creator on the push identity, to mint the OIDC tokens that
authenticate pushes. Only the push identity may invoke the push-fed functions.

The deployer (`aiexec-deployer`, see `infra/deploy/bootstrap.py`) gets Service Account User on
each identity it hands to a function or a push subscription, and on nothing else: deploying a
function that runs as an account, and creating a push subscription whose OIDC tokens name an
account, both need `iam.serviceAccounts.actAs` on that account.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.deploy.functions import batch_providers
from infra.deploy.model import (
    DATABASE,
    BatchBucket,
    Binding,
    Condition,
    Function,
    ServiceAccount,
    Target,
    member,
)
from infra.settings import Settings
from infra.topology import (
    BATCH_FUNCTIONS,
    FUNCTION_FINALIZER,
    FUNCTION_INGEST,
    FUNCTION_INGEST_EVENTS,
    FUNCTION_SWEEPER,
    Topology,
)
from shared.providers.registry import SPECS

DATASTORE_USER = "roles/datastore.user"
PUBLISHER = "roles/pubsub.publisher"
SUBSCRIBER = "roles/pubsub.subscriber"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"  # noqa: S105 - a role name
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"  # noqa: S105 - a role name
INVOKER = "roles/run.invoker"
SERVICE_ACCOUNT_USER = "roles/iam.serviceAccountUser"
STORAGE_OBJECT_VIEWER = "roles/storage.objectViewer"  # attachments (gs://): ingest, workers
TRACE_AGENT = "roles/cloudtrace.agent"  # every function exports its spans (shared/tracing.py)
STORAGE_OBJECT_USER = "roles/storage.objectUser"  # the batch functions: their job files
STORAGE_OBJECT_CREATOR = "roles/storage.objectCreator"  # Vertex AI writes a job's output
# Project roles a provider's worker needs beyond Firestore, as its spec declares them (Vertex AI
# authenticates with the worker's own identity instead of a key).
PROVIDER_PROJECT_ROLES = {name: spec.iam_roles for name, spec in SPECS.items() if spec.iam_roles}
# IAM evaluates at most 10 values per hasOnly() and 12 logical operators per condition
# (Google's own cloud-foundation-fabric chunks delegated grants the same way).
HAS_ONLY_MAX, CONDITION_MAX_OPERATORS = 10, 12


def database_condition(project: str, database: str = DATABASE) -> Condition:
    """Only the Firestore database the code uses (`resource.name` of the database)."""
    return Condition(
        "aiexec-firestore-database-only",
        f'resource.name == "projects/{project}/databases/{database}"',
        f"only the Firestore database {database}",
    )


def grants_only(roles: Iterable[str], title: str, description: str) -> Condition:
    """A limited IAM admin: a setIamPolicy call may add or remove grants of `roles` only
    (`iam.googleapis.com/modifiedGrantsByRole`, "Set limits on granting roles",
    https://cloud.google.com/iam/docs/setting-limits-on-granting-roles , read 2026-11-29)."""
    wanted = sorted(set(roles))
    if not wanted:
        raise ValueError("a delegated grant needs at least one role")
    chunks = [wanted[i : i + HAS_ONLY_MAX] for i in range(0, len(wanted), HAS_ONLY_MAX)]
    if len(chunks) - 1 > CONDITION_MAX_OPERATORS:
        raise ValueError(f"too many roles for one IAM condition: {len(wanted)}")
    attribute = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
    terms = [
        f"{attribute}.hasOnly([{', '.join(repr(role) for role in chunk)}])" for chunk in chunks
    ]
    return Condition(title, " || ".join(terms), description)


def publishes_to(settings: Settings, function: str) -> tuple[str, ...]:
    """The topics a function's code publishes to (see shared/ingest, worker, sweeper, …)."""
    queues = tuple(settings.provider_topic(p) for p in settings.providers)
    # A task's own chain may reorder the configured providers, so any queue can be next.
    onward = (*queues, settings.topic_dead, settings.topic_results)
    if function in (FUNCTION_INGEST, FUNCTION_INGEST_EVENTS):
        return queues
    if function.startswith("worker-") or function in (FUNCTION_SWEEPER, *BATCH_FUNCTIONS):
        return onward  # the batch lane finishes tasks (task-results) or moves them online
    if function == FUNCTION_FINALIZER:
        return (settings.topic_results,)
    return ()  # the report writes Firestore and posts a webhook / e-mail only


def _runtime(settings: Settings, target: Target, functions: Iterable[Function]) -> list[Binding]:
    bindings = []
    for fn in functions:
        who = member(fn.service_account)
        bindings.append(
            Binding(
                "project",
                target.project,
                DATASTORE_USER,
                who,
                f"{fn.name}: Firestore, the {DATABASE} database only",
                database_condition(target.project),
            )
        )
        why = f"{fn.name}: its spans to Cloud Trace"
        bindings.append(Binding("project", target.project, TRACE_AGENT, who, why))
        provider = fn.name.removeprefix("worker-") if fn.name.startswith("worker-") else None
        for role in PROVIDER_PROJECT_ROLES.get(provider or "", ()):
            bindings.append(Binding("project", target.project, role, who, f"{fn.name}: model"))
        if fn.name in BATCH_FUNCTIONS:  # their providers' batch jobs (Vertex AI: its role)
            for batch_provider in batch_providers(settings):
                for role in PROVIDER_PROJECT_ROLES.get(batch_provider, ()):
                    why = f"{fn.name}: {batch_provider} batch jobs"
                    bindings.append(Binding("project", target.project, role, who, why))
        if provider is not None or fn.name in (FUNCTION_INGEST, FUNCTION_INGEST_EVENTS):
            # ingest checks an attached gs:// object's size, a worker reads it (Vertex AI's
            # own service agent reads it for Gemini); objects in other projects' buckets need
            # the bucket owner's grant to these accounts
            reads = "checks" if provider is None else "reads"
            why = f"{fn.name}: {reads} attachments"
            bindings.append(Binding("project", target.project, STORAGE_OBJECT_VIEWER, who, why))
        for topic in publishes_to(settings, fn.name):
            bindings.append(Binding("topic", topic, PUBLISHER, who, f"{fn.name} publishes"))
        for secret in fn.secrets:
            bindings.append(
                Binding("secret", secret.name, SECRET_ACCESSOR, who, f"{fn.name}: {secret.env}")
            )
        for invoker in fn.invokers:
            bindings.append(Binding("function", fn.name, INVOKER, member(invoker), "push"))
        if fn.public:
            bindings.append(Binding("function", fn.name, INVOKER, "allUsers", "API keys"))
    return bindings


def _pubsub_agent(target: Target, topology: Topology, push: ServiceAccount) -> list[Binding]:
    agent = member(target.pubsub_agent)
    bindings = [
        Binding("service-account", push.email, TOKEN_CREATOR, agent, "mint push OIDC tokens")
    ]
    dead_letters = sorted(
        {s.dead_letter_topic for s in topology.subscriptions if s.dead_letter_topic}
    )
    for topic in dead_letters:
        bindings.append(Binding("topic", topic, PUBLISHER, agent, "dead-letter into it"))
    for sub in topology.subscriptions:
        if sub.dead_letter_topic is not None:
            bindings.append(
                Binding("subscription", sub.name, SUBSCRIBER, agent, "ack what it dead-letters")
            )
    return bindings


def _scheduler_agent(settings: Settings, target: Target) -> list[Binding]:
    agent = member(target.scheduler_agent)
    triggers = (
        settings.topic_report_requests,
        settings.topic_sweep_requests,
        settings.topic_batch_requests,
    )
    return [Binding("topic", topic, PUBLISHER, agent, "scheduled trigger") for topic in triggers]


def bucket_prefix_condition(bucket: BatchBucket) -> Condition:
    """The batch lane's objects only (`projects/_/buckets/B/objects/batch/...`), and the bucket
    itself for listing (a bucket-level permission: names under other prefixes are listed,
    never read or written). Cloud Storage's resource names in IAM Conditions,
    https://cloud.google.com/iam/docs/conditions-resource-attributes#resource-name (read
    2026-11-30); bucket-level conditions need uniform bucket-level access, which it has."""
    bucket_name = f"projects/_/buckets/{bucket.name}"
    return Condition(
        "aiexec-batch-prefix-only",
        f'resource.name.startsWith("{bucket_name}/objects/{bucket.prefix}") || '
        f'resource.name == "{bucket_name}"',
        f"only the objects under gs://{bucket.name}/{bucket.prefix}",
    )


def _batch_bucket(
    target: Target, functions: Iterable[Function], bucket: BatchBucket | None
) -> list[Binding]:
    """The batch functions read and write their job files; Vertex AI's service agent reads a
    job's input and writes its output (the job runs as it): under the prefix only."""
    if bucket is None:
        return []
    only = bucket_prefix_condition(bucket)
    grants = [
        (STORAGE_OBJECT_USER, fn.service_account, f"{fn.name}: batch job files")
        for fn in functions
        if fn.name in BATCH_FUNCTIONS
    ]
    agent = target.aiplatform_agent
    grants += [
        (STORAGE_OBJECT_VIEWER, agent, "Vertex AI reads batch input"),
        (STORAGE_OBJECT_CREATOR, agent, "Vertex AI writes batch output"),
    ]
    return [
        Binding("bucket", bucket.name, role, member(email), why, only)
        for role, email, why in grants
    ]


def _deployer_acts_as(
    accounts: Iterable[ServiceAccount], deployer: ServiceAccount
) -> list[Binding]:
    return [
        Binding(
            "service-account",
            account.email,
            SERVICE_ACCOUNT_USER,
            member(deployer.email),
            "the deployer hands it to a function or a push subscription",
        )
        for account in accounts
    ]


def bindings(
    settings: Settings,
    target: Target,
    topology: Topology,
    functions: Iterable[Function],
    push: ServiceAccount,
    *,
    accounts: Iterable[ServiceAccount] = (),
    deployer: ServiceAccount | None = None,
    bucket: BatchBucket | None = None,
) -> tuple[Binding, ...]:
    """Every binding, de-duplicated, in a stable order (kind, resource, role, member).
    With `deployer`, it may act as each of `accounts` (the runtime and push identities);
    with `bucket`, the batch lane's grants on it."""
    functions = tuple(functions)
    every = [
        *_runtime(settings, target, functions),
        *_batch_bucket(target, functions, bucket),
        *_pubsub_agent(target, topology, push),
        *_scheduler_agent(settings, target),
        *(_deployer_acts_as(accounts, deployer) if deployer else []),
    ]
    unique = {b: b for b in every}  # equal bindings (the `why` aside) collapse to the first
    return tuple(sorted(unique.values(), key=lambda b: b.sort_key))
