"""What a project needs before anything of the deployment can be created: the bootstrap.

* **APIs** the deployment calls, enabled when disabled.
* **The Firestore database** `(default)`, native mode, in the deploy region: created when
  missing; one in Datastore mode is refused (the code needs Firestore's native mode).
* **Secrets** the functions mount: a provider key (the OpenAI API key) or a report secret must
  exist — it cannot be made up, so a missing one refuses the deploy and names the
  `gcloud secrets create` command; the API-key pepper is generated when missing (32 random bytes
  from `secrets`) and never regenerated (every stored key hash depends on it).
* **Build identities.** Since May-June 2024, Cloud Build in a new project no longer runs builds
  as the legacy Cloud Build service account with its broad default roles; it uses the Compute
  Engine default service account, which in many organisations has no roles at all ("Cloud Build
  default service account change",
  https://cloud.google.com/build/docs/cloud-build-service-account-updates , read 2026-11-29).
  So the deployment brings its own two, each with exactly what it does:

  - `aiexec-deployer` runs `cloudbuild.yaml` (tests, `aiexec deploy`, the smoke test). A
    user-specified build account must send its build logs to Cloud Logging or a bucket of its
    own, hence `roles/logging.logWriter` and `options.logging: CLOUD_LOGGING_ONLY`
    (https://cloud.google.com/build/docs/securing-builds/configure-user-specified-service-accounts ,
    read 2026-11-29). Deploying a function needs Cloud Functions Developer plus Service Account
    User on the function's runtime identity (https://cloud.google.com/functions/docs/concepts/iam ,
    read 2026-11-29): that is granted per runtime account (see `infra/deploy/iam.py`), not on the
    project.
  - `aiexec-builder` builds the function images from source (`gcloud functions deploy
    --build-service-account`); Cloud Run documents `roles/run.builder` as the role of a build
    account for functions and source deployments
    (https://cloud.google.com/run/docs/configuring/services/build-service-account , read
    2026-11-29), so it replaces the older trio of Artifact Registry writer, Storage object viewer
    and Logs writer, and the deployer's broad roles never run third-party build steps.

  Not granted, because the docs above make them unnecessary: `roles/editor`/`roles/owner`, the
  legacy `roles/cloudbuild.builds.builder`, Service Account User on the whole project, any
  Storage role for the deployer (`gcloud functions deploy` uploads its source through a signed
  URL that Cloud Functions Developer covers), and `eventarc.googleapis.com` (the functions are
  HTTP-triggered and fed by this project's own push subscriptions; no Eventarc trigger exists).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.deploy.functions import service_account
from infra.deploy.model import Binding, Function, ServiceAccount, Target, member
from shared.settings import Settings

DATABASE = "(default)"
DATABASE_TYPE = "firestore-native"
DEPLOYER_ROLE, BUILDER_ROLE = "deployer", "builder"  # account ids: aiexec-deployer, -builder
SERVICE_ACCOUNT_USER = "roles/iam.serviceAccountUser"
PEPPER_BYTES = 32

# (service, why). Eventarc is deliberately absent: see the module docstring.
_APIS = (
    ("cloudfunctions.googleapis.com", "the functions (gen2)"),
    ("run.googleapis.com", "gen2 functions run as Cloud Run services"),
    ("cloudbuild.googleapis.com", "function image builds and the deploy pipeline"),
    ("artifactregistry.googleapis.com", "function images"),
    ("storage.googleapis.com", "function source uploads"),
    ("pubsub.googleapis.com", "topics and push subscriptions"),
    ("firestore.googleapis.com", "the system of record"),
    ("secretmanager.googleapis.com", "provider keys and the API-key pepper"),
    ("cloudscheduler.googleapis.com", "the sweep and weekly report triggers"),
    ("iam.googleapis.com", "one service account per function"),
    ("cloudresourcemanager.googleapis.com", "project IAM bindings, the project number"),
    ("logging.googleapis.com", "function and build logs"),
)
_VERTEX_API = ("aiplatform.googleapis.com", "Vertex AI, called by the vertex worker")

# Exactly what `aiexec deploy` and the smoke test call, role by role.
DEPLOYER_ROLES = (
    ("roles/cloudfunctions.developer", "deploy the functions (source upload included)"),
    ("roles/run.admin", "invoker policies of the functions (gen2 = Cloud Run services)"),
    ("roles/iam.serviceAccountAdmin", "create the runtime identities and set their policies"),
    ("roles/resourcemanager.projectIamAdmin", "project roles of the runtime identities"),
    ("roles/pubsub.admin", "topics, subscriptions and their IAM; the smoke test publishes"),
    ("roles/cloudscheduler.admin", "the sweep and weekly report jobs"),
    ("roles/datastore.indexAdmin", "Firestore indexes and the usage TTL policy"),
    ("roles/datastore.viewer", "the database check; the smoke test reads its task"),
    ("roles/secretmanager.admin", "generate the pepper, pin versions, grant secret access"),
    ("roles/serviceusage.serviceUsageViewer", "check that the required APIs are enabled"),
    ("roles/logging.logWriter", "the build's logs (a user-specified build account)"),
)
BUILDER_ROLES = (("roles/run.builder", "build the function images from source"),)


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
    """A secret the deploy makes up when it is missing (random bytes), and never replaces."""

    name: str
    env: str
    functions: tuple[str, ...]
    random_bytes: int = PEPPER_BYTES


@dataclass(frozen=True)
class Bootstrap:
    apis: tuple[Api, ...]
    database: FirestoreDatabase
    required_secrets: tuple[RequiredSecret, ...]
    generated_secrets: tuple[GeneratedSecret, ...]
    deployer: ServiceAccount
    builder: ServiceAccount
    bindings: tuple[Binding, ...]  # the build identities' roles

    @property
    def accounts(self) -> tuple[ServiceAccount, ...]:
        return (self.deployer, self.builder)


def required_apis(settings: Settings) -> tuple[Api, ...]:
    apis = list(_APIS)
    if "vertex" in settings.providers:
        apis.append(_VERTEX_API)
    return tuple(Api(name, why) for name, why in apis)


def build_accounts(target: Target) -> tuple[ServiceAccount, ServiceAccount]:
    return (
        service_account(target, DEPLOYER_ROLE, "runs cloudbuild.yaml: tests, deploy, smoke test"),
        service_account(target, BUILDER_ROLE, "builds the function images from source"),
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
        else:
            required.append(RequiredSecret(name, env, tuple(names)))
    return tuple(required), tuple(generated)


def build_bootstrap(
    settings: Settings, target: Target, functions: tuple[Function, ...]
) -> Bootstrap:
    deployer, builder = build_accounts(target)
    project = target.project
    bindings = [
        Binding("project", project, role, member(deployer.email), f"deployer: {why}")
        for role, why in DEPLOYER_ROLES
    ]
    bindings += [
        Binding("project", project, role, member(builder.email), f"builder: {why}")
        for role, why in BUILDER_ROLES
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
    required, generated = _secrets(settings, functions)
    return Bootstrap(
        apis=required_apis(settings),
        database=FirestoreDatabase(DATABASE, target.region),
        required_secrets=required,
        generated_secrets=generated,
        deployer=deployer,
        builder=builder,
        bindings=tuple(bindings),
    )
