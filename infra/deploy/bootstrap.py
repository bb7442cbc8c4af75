"""What a project needs before anything of the deployment can be created: the bootstrap.

A project owner applies it (`aiexec deploy --bootstrap-only`), once and again whenever the chain,
the mounted secrets or these roles change; every deploy only *checks* it
(`infra/deploy/preflight.py`) and refuses, naming that command, when something is missing.
Everything that creates an identity or grants access to one or to a secret lives here, so the
account that deploys never holds a role that could hand out more than the plan grants.

* **APIs** the deployment calls, enabled when disabled.
* **The Firestore database** `(default)`, native mode, in the deploy region: created when
  missing; one in Datastore mode is refused (the code needs Firestore's native mode).
* **Secrets** the functions mount: a provider key (the OpenAI API key) or a report secret must
  exist — it cannot be made up, so a missing one refuses the deploy and names the
  `gcloud secrets create` command; the API-key pepper is generated when missing (32 random bytes
  from `secrets`) and never regenerated (every stored key hash depends on it), and so is the
  callbacks' signing secret (`whsec_` + 32 random bytes, Standard Webhooks' format): clients
  without a secret of their own verify deliveries with it, so a new value would break them.
* **Runtime identities** (one per function and the push identity), who may act as them, and
  which of them may read which secret: see `infra/deploy/plan/bootstrap.py`, `bootstrap_steps`.
* **Build identities.** Since May-June 2024, Cloud Build in a new project no longer runs builds
  as the legacy Cloud Build service account with its broad default roles; it uses the Compute
  Engine default service account, which in many organisations has no roles at all ("Cloud Build
  default service account change",
  https://cloud.google.com/build/docs/cloud-build-service-account-updates , read 2026-11-29).
  So the deployment brings its own three, each with exactly what it does:

  - `aiexec-tester` runs `cloudbuild-test.yaml` (lint, type-check, every test on the
    emulators) and holds no role on anything but its own build logs and the build source: a
    test, a test dependency or a test server never runs with deploy rights.
  - `aiexec-deployer` runs `cloudbuild.yaml`: it checks that a test build of the very same
    source succeeded, then `aiexec deploy` and the smoke test. A user-specified build account
    must send its build logs to Cloud Logging or a bucket of its own, hence
    `roles/logging.logWriter` and `options.logging: CLOUD_LOGGING_ONLY`
    (https://cloud.google.com/build/docs/securing-builds/configure-user-specified-service-accounts ,
    read 2026-11-29). The build account fetches the uploaded source from
    `gs://PROJECT_cloudbuild/source/` itself (a build whose account may not list that bucket
    stops at "Fetching storage object", e.g.
    https://github.com/GoogleCloudPlatform/bigquery-dlp-remote-function/issues/70 , read
    2026-11-29), hence Storage Object Viewer on that one bucket for both build accounts.
    Deploying a function needs Cloud Functions Developer plus Service Account User on the
    function's runtime identity (https://cloud.google.com/functions/docs/concepts/iam , read
    2026-11-29): that is granted per runtime account, not on the project.
  - `aiexec-builder` builds the function images from source (`gcloud functions deploy
    --build-service-account`); Cloud Run documents `roles/run.builder` as the role of a build
    account for functions and source deployments
    (https://cloud.google.com/run/docs/configuring/services/build-service-account , read
    2026-11-29), so the deployer's roles never run third-party build steps.

  Where a role of the deployer could grant access to others, it is narrowed:

  - `roles/resourcemanager.projectIamAdmin` carries an IAM condition on
    `iam.googleapis.com/modifiedGrantsByRole`: it may add or remove grants of exactly the
    project roles the plan gives the runtime identities (`roles/datastore.user`, and
    `roles/aiplatform.user` with Vertex AI in the chain), nothing else — not an owner role, not
    itself more ("Set limits on granting roles",
    https://cloud.google.com/iam/docs/setting-limits-on-granting-roles , read 2026-11-29).
  - `roles/iam.serviceAccountAdmin` is gone: it could grant any role on any service account of
    the project (token creator on a privileged one, for instance), and IAM offers no way to
    limit it to ours. The runtime identities and the policies on them are created here, by the
    owner.
  - `roles/secretmanager.admin` is gone: it reads every payload and grants access to every
    secret. The pepper is generated and the secret access granted here; the deployer keeps
    `roles/secretmanager.viewer` (metadata, never a payload: "Access control with IAM",
    https://cloud.google.com/secret-manager/docs/access-control , read 2026-11-29), with a
    condition on `resource.name` limiting it to the mounted secrets, to pin their versions and
    check their access.
  - `roles/run.admin` (deploy, delete or re-point any Cloud Run service of the project) is
    replaced by a custom role with the three permissions invoker policies need:
    `run.services.get`, `run.services.getIamPolicy`, `run.services.setIamPolicy`.
  - `roles/datastore.viewer` is limited to the `(default)` database, like the runtime roles.

  Older bootstraps granted the deployer those broad roles; the bootstrap revokes them
  (`REVOKED_DEPLOYER_ROLES`), since a conditional grant next to an unconditional one of the
  same role narrows nothing. Not granted, because the docs above make them unnecessary:
  `roles/editor`/`roles/owner`, the legacy `roles/cloudbuild.builds.builder`, Service Account
  User on the whole project, and `eventarc.googleapis.com` (the functions are HTTP-triggered and
  fed by this project's own push subscriptions; no Eventarc trigger exists). Not narrowed
  further, and why: `roles/pubsub.admin` (it creates the topics and subscriptions and sets
  their policies; no predefined role does both with less, and Pub/Sub is not among the services
  that recognise resource attributes in IAM conditions: the attribute reference,
  https://cloud.google.com/iam/docs/conditions-attribute-reference , read 2026-11-29, lists
  Pub/Sub Lite only), `roles/cloudscheduler.admin` and `roles/datastore.indexAdmin` (they grant
  nothing to anyone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from infra.deploy.functions import service_account
from infra.deploy.iam import CONDITION_MAX_OPERATORS, database_condition, grants_only
from infra.deploy.model import (
    DATABASE,
    Binding,
    Condition,
    CustomRole,
    Function,
    ServiceAccount,
    Target,
    member,
)
from infra.settings import Settings
from shared.providers.registry import SPECS

DATABASE_TYPE = "firestore-native"
# account ids: aiexec-deployer, aiexec-builder, aiexec-tester
DEPLOYER_ROLE, BUILDER_ROLE, TESTER_ROLE = "deployer", "builder", "tester"
SERVICE_ACCOUNT_USER = "roles/iam.serviceAccountUser"
SOURCE_READER = "roles/storage.objectViewer"  # on the build source bucket only
PEPPER_BYTES = 32
WEBHOOK_FORMAT = "whsec"  # GeneratedSecret.format of the callbacks' signing secret
# The default secret names share it: one condition term covers them all.
SECRET_PREFIX = "aiexec-"  # noqa: S105 - a name prefix

# (service, why). Eventarc is deliberately absent: see the module docstring.
_APIS = (
    ("cloudfunctions.googleapis.com", "the functions (gen2)"),
    ("run.googleapis.com", "gen2 functions run as Cloud Run services"),
    ("cloudbuild.googleapis.com", "function image builds and the deploy pipeline"),
    ("artifactregistry.googleapis.com", "function images"),
    ("storage.googleapis.com", "function and build source uploads"),
    ("pubsub.googleapis.com", "topics and push subscriptions"),
    ("firestore.googleapis.com", "the system of record"),
    ("secretmanager.googleapis.com", "provider keys and the API-key pepper"),
    ("cloudscheduler.googleapis.com", "the sweep and weekly report triggers"),
    ("iam.googleapis.com", "one service account per function"),
    ("cloudresourcemanager.googleapis.com", "project IAM bindings, the project number"),
    ("logging.googleapis.com", "function and build logs"),
    ("cloudtrace.googleapis.com", "one trace per task (the functions export spans)"),
    ("monitoring.googleapis.com", "the log-based metrics' alert policies and dashboard"),
)

# The function invoker policies (gen2 functions are Cloud Run services) and nothing else of
# Cloud Run: `gcloud functions add-/remove-invoker-policy-binding` and `gcloud run services
# get-iam-policy` read the service and read/write its policy.
INVOKER_ADMIN = CustomRole(
    role_id="aiexecInvokerAdmin",
    title="aiexec: function invoker policies",
    description="Read a Cloud Run service and its IAM policy, and set that policy (invokers)",
    permissions=("run.services.get", "run.services.getIamPolicy", "run.services.setIamPolicy"),
)

# Roles older bootstraps gave the deployer: revoked, whatever their condition.
REVOKED_DEPLOYER_ROLES = (
    "roles/run.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/secretmanager.admin",
)
BUILDER_ROLES = (("roles/run.builder", "build the function images from source"),)
TESTER_ROLES = (("roles/logging.logWriter", "its build logs, nothing else"),)


@dataclass(frozen=True)
class Grant:
    """A project role of a build account, with its reason and (maybe) its condition."""

    role: str
    why: str
    condition: Condition | None = None


def deployer_grants(
    target: Target, runtime_project_roles: Iterable[str], secrets: Iterable[str]
) -> tuple[Grant, ...]:
    """Exactly what `aiexec deploy`, the test-build check and the smoke test call, role by
    role; narrowed by a condition wherever the platform allows (see the module docstring)."""
    project = target.project
    roles = sorted(set(runtime_project_roles))
    grants = [
        Grant("roles/cloudfunctions.developer", "deploy the functions (source upload included)"),
        Grant(
            INVOKER_ADMIN.name(project),
            "invoker policies of the functions (gen2 = Cloud Run services), nothing else of "
            "Cloud Run",
        ),
        Grant(
            "roles/resourcemanager.projectIamAdmin",
            f"project roles of the runtime identities: may grant {', '.join(roles)} only",
            grants_only(
                roles,
                "aiexec-runtime-project-roles-only",
                "grant or revoke only the project roles of the aiexec runtime identities",
            ),
        ),
        Grant("roles/pubsub.admin", "topics, subscriptions and their IAM; the smoke publishes"),
        Grant("roles/cloudscheduler.admin", "the sweep and weekly report jobs"),
        Grant("roles/datastore.indexAdmin", "Firestore indexes and the usage TTL policy"),
        Grant("roles/logging.configWriter", "the log-based metrics the alerts and dashboard use"),
        Grant("roles/monitoring.alertPolicyEditor", "the alert policies"),
        Grant("roles/monitoring.notificationChannelEditor", "the alerts' email channel"),
        Grant("roles/monitoring.dashboardEditor", "the dashboard"),
        Grant(
            "roles/datastore.viewer",
            f"the database check; the smoke test reads its task ({DATABASE} only)",
            database_condition(project),
        ),
    ]
    names = sorted(set(secrets))
    if names:
        grants.append(
            Grant(
                "roles/secretmanager.viewer",
                "pin the mounted secrets' versions, check who may read them (metadata only, "
                "never a payload; those secrets only)",
                secrets_condition(target, names),
            )
        )
    grants += [
        Grant("roles/serviceusage.serviceUsageViewer", "check that the required APIs are on"),
        Grant("roles/cloudbuild.builds.viewer", "read the test build of the source it deploys"),
        Grant("roles/logging.logWriter", "the build's logs (a user-specified build account)"),
    ]
    return tuple(grants)


def secrets_condition(target: Target, names: Iterable[str]) -> Condition:
    """Only the secrets the functions mount: `resource.name` of a secret (and of its versions)
    starts with `projects/NUMBER/secrets/NAME`; the id form is allowed too, since the
    resource-name form Secret Manager reports to IAM is not spelled out in its docs. The
    default names share one prefix term."""
    prefixes = sorted({SECRET_PREFIX if name.startswith(SECRET_PREFIX) else name for name in names})
    owners = list(dict.fromkeys((target.number, target.project)))
    terms = [
        f'resource.name.startsWith("projects/{owner}/secrets/{prefix}")'
        for owner in owners
        for prefix in prefixes
    ]
    if len(terms) - 1 > CONDITION_MAX_OPERATORS:
        raise ValueError(
            f"{len(prefixes)} secret names do not fit one IAM condition; name the secrets "
            f"{SECRET_PREFIX}…"
        )
    return Condition(
        "aiexec-mounted-secrets-only",
        " || ".join(terms),
        "only the secrets the aiexec functions mount",
    )


@dataclass(frozen=True)
class Api:
    name: str
    why: str


@dataclass(frozen=True)
class FirestoreDatabase:
    name: str
    location: str
    type: str = DATABASE_TYPE


@dataclass(frozen=True)
class RequiredSecret:
    """A secret only a person can provide (a provider's API key): it must exist."""

    name: str
    env: str
    functions: tuple[str, ...]

    def create_command(self, project: str) -> str:
        return (
            f'printf %s "${self.env}" | gcloud secrets create {self.name} --data-file=- '
            f"--project={project}"
        )


@dataclass(frozen=True)
class GeneratedSecret:
    """A secret the deploy makes up when it is missing (random bytes), and never replaces.
    `format`: `urlsafe` (the pepper: URL-safe base64 text) or `whsec` (a Standard Webhooks
    signing secret: `whsec_` + standard base64, what shared/callbacks/signing.py decodes)."""

    name: str
    env: str
    functions: tuple[str, ...]
    random_bytes: int = PEPPER_BYTES
    format: str = "urlsafe"


@dataclass(frozen=True)
class SourceBucket:
    """Where `gcloud builds submit` uploads the source, in gcloud's default location."""

    name: str
    location: str = "US"


@dataclass(frozen=True)
class Bootstrap:
    apis: tuple[Api, ...]
    database: FirestoreDatabase
    required_secrets: tuple[RequiredSecret, ...]
    generated_secrets: tuple[GeneratedSecret, ...]
    deployer: ServiceAccount
    builder: ServiceAccount
    tester: ServiceAccount
    custom_roles: tuple[CustomRole, ...]
    source_bucket: SourceBucket
    bindings: tuple[Binding, ...]  # the build identities' roles
    revoked: tuple[Binding, ...]  # roles older bootstraps gave them, removed when present

    @property
    def accounts(self) -> tuple[ServiceAccount, ...]:
        return (self.deployer, self.builder, self.tester)


def required_apis(settings: Settings) -> tuple[Api, ...]:
    apis = list(_APIS)
    for provider in settings.providers:  # and each provider's own, as its spec declares
        own = SPECS[provider].apis if provider in SPECS else ()  # unknown: preflight says so
        apis += [api for api in own if api not in apis]
    return tuple(Api(name, why) for name, why in apis)


def build_accounts(target: Target) -> tuple[ServiceAccount, ServiceAccount, ServiceAccount]:
    return (
        service_account(target, DEPLOYER_ROLE, "runs cloudbuild.yaml: deploys a tested source"),
        service_account(target, BUILDER_ROLE, "builds the function images from source"),
        service_account(target, TESTER_ROLE, "runs cloudbuild-test.yaml: tests, no rights"),
    )


def _secrets(
    settings: Settings, functions: tuple[Function, ...]
) -> tuple[tuple[RequiredSecret, ...], tuple[GeneratedSecret, ...]]:
    users: dict[tuple[str, str], list[str]] = {}
    for fn in functions:
        for ref in fn.secrets:
            users.setdefault((ref.name, ref.env), []).append(fn.name)
    required, generated = [], []
    for (name, env), names in users.items():
        if name == settings.api_key_pepper_secret:
            generated.append(GeneratedSecret(name, env, tuple(names)))
        elif name == settings.callback_secret_name:
            generated.append(GeneratedSecret(name, env, tuple(names), format=WEBHOOK_FORMAT))
        else:
            required.append(RequiredSecret(name, env, tuple(names)))
    return tuple(required), tuple(generated)


def build_bootstrap(
    settings: Settings,
    target: Target,
    functions: tuple[Function, ...],
    runtime_bindings: Iterable[Binding] = (),
) -> Bootstrap:
    """The bootstrap of `functions`; `runtime_bindings` (the deployment's own) decide which
    project roles the deployer may grant."""
    deployer, builder, tester = build_accounts(target)
    project, bucket = target.project, SourceBucket(target.source_bucket)
    project_roles = [b.role for b in runtime_bindings if b.kind == "project"]
    secrets = [ref.name for fn in functions for ref in fn.secrets]
    bindings = [
        Binding(
            "project", project, g.role, member(deployer.email), f"deployer: {g.why}", g.condition
        )
        for g in deployer_grants(target, project_roles, secrets)
    ]
    bindings += [
        Binding("project", project, role, member(account.email), f"{label}: {why}")
        for account, label, roles in ((builder, "builder", BUILDER_ROLES),
                                      (tester, "tester", TESTER_ROLES))
        for role, why in roles
    ]  # fmt: skip
    bindings += [
        Binding("bucket", bucket.name, SOURCE_READER, member(account.email), "fetch the source")
        for account in (deployer, tester)
    ]
    bindings.append(
        Binding(
            "service-account",
            builder.email,
            SERVICE_ACCOUNT_USER,
            member(deployer.email),
            "deploys functions whose images the builder builds",
        )
    )
    revoked = tuple(
        Binding("project", project, role, member(deployer.email), "deployer: no longer needed")
        for role in REVOKED_DEPLOYER_ROLES
    )
    required, generated = _secrets(settings, functions)
    return Bootstrap(
        apis=required_apis(settings),
        database=FirestoreDatabase(DATABASE, target.region),
        required_secrets=required,
        generated_secrets=generated,
        deployer=deployer,
        builder=builder,
        tester=tester,
        custom_roles=(INVOKER_ADMIN,),
        source_bucket=bucket,
        bindings=tuple(bindings),
        revoked=revoked,
    )
