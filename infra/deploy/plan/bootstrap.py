"""The bootstrap as steps (what a project owner applies with `aiexec deploy --bootstrap-only`):
APIs, the Firestore database, the secrets, the custom role, the build identities with their
(conditional) roles, the runtime identities, who may act as them and which may read which
secret."""

from __future__ import annotations

import json

from infra.deploy.bootstrap import WEBHOOK_FORMAT, Bootstrap
from infra.deploy.gcp.batch_bucket import batch_bucket_create_args, lifecycle_args
from infra.deploy.gcp.firestore import database_create_args
from infra.deploy.gcp.gcloud import GCLOUD, gcloud_argv
from infra.deploy.gcp.project_iam import custom_role_args, project_revoke_args
from infra.deploy.gcp.secret_manager import secret_create_args
from infra.deploy.gcp.source_bucket import bucket_create_args
from infra.deploy.model import LATEST, UNRESOLVED, CustomRole, Production
from infra.deploy.plan.iam_steps import binding_steps, service_account_steps
from infra.deploy.plan.steps import Call, Command, Step

BOOTSTRAP = "bootstrap"


def _apis(prod: Production, boot: Bootstrap) -> Step:
    names = tuple(api.name for api in boot.apis)
    text = "\n".join(
        [f"{len(names)} APIs, each enabled when disabled:"]
        + [f"  {api.name}: {api.why}" for api in boot.apis]
    )
    enable = gcloud_argv("services", "enable", *names, project=prod.target.project)
    return Step(f"{BOOTSTRAP}: APIs", text, Call(GCLOUD, "apis", names, shown=(enable,)))


def _database(prod: Production, boot: Bootstrap) -> Step:
    db = boot.database
    text = (
        f"Firestore database {db.name}: native mode, in {db.location} (created when missing; "
        "one in Datastore mode is refused)"
    )
    create = gcloud_argv(*database_create_args(db), project=prod.target.project)
    return Step(f"{BOOTSTRAP}: Firestore database", text, Call(GCLOUD, "database", db, (create,)))


def _version(prod: Production, name: str) -> str:
    versions = {s.version for fn in prod.functions for s in fn.secrets if s.name == name}
    shown = sorted(v if v != LATEST else UNRESOLVED for v in versions)
    return ", ".join(f"{name}:{v}" for v in shown)


def _secret_steps(prod: Production, boot: Bootstrap) -> list[Step]:
    project, phase = prod.target.project, f"{BOOTSTRAP}: secrets"
    steps = []
    for req in boot.required_secrets:
        text = (
            f"{req.name} → {req.env} of {', '.join(req.functions)}: must exist, mounted as "
            f"{_version(prod, req.name)}; missing: the deploy refuses, naming "
            f"`{req.create_command(project)}`"
        )
        steps.append(Step(phase, text, Call(GCLOUD, "secret-required", req)))
    for gen in boot.generated_secrets:
        how = (
            f"whsec_ + {gen.random_bytes} random bytes, base64"
            if gen.format == WEBHOOK_FORMAT
            else f"{gen.random_bytes} random bytes, secrets.token_urlsafe"
        )
        text = (
            f"{gen.name} → {gen.env} of {', '.join(gen.functions)}: generated when missing "
            f"({how}), never regenerated; mounted as {_version(prod, gen.name)}"
        )
        if gen.format == WEBHOOK_FORMAT:
            text += (
                "; clients without their own secret verify callbacks with it (a project owner "
                f"reads it: gcloud secrets versions access latest --secret={gen.name} "
                f"--project={project})"
            )
        create = gcloud_argv(*secret_create_args(gen.name), project=project)
        steps.append(Step(phase, text, Call(GCLOUD, "secret-generated", gen, (create,))))
    if not steps:
        steps.append(Step(phase, "none mounted", Call(GCLOUD, "no-secrets", None)))
    return steps


def _custom_roles(prod: Production, roles: tuple[CustomRole, ...]) -> list[Step]:
    project = prod.target.project
    return [
        Step(
            f"{BOOTSTRAP}: custom roles",
            f"{role.name(project)}: {', '.join(role.permissions)} (created, or brought back to "
            "exactly these permissions)",
            Call(
                GCLOUD,
                "custom-role",
                role,
                (gcloud_argv(*custom_role_args(role), project=project),),
            ),
        )
        for role in roles
    ]


def _revocations(prod: Production, boot: Bootstrap, phase: str) -> list[Step]:
    project = prod.target.project
    steps = []
    for b in boot.revoked:
        argv = gcloud_argv(*project_revoke_args(project, b), project=project)
        text = f"project {project}: {b.role} ✗ {b.member}  (revoked when held: {b.why})"
        steps.append(Step(phase, text, Call(GCLOUD, "project-revoke", b, (argv,))))
    return steps


def _source_bucket(prod: Production, boot: Bootstrap, phase: str) -> Step:
    bucket = boot.source_bucket
    text = (
        f"gs://{bucket.name}: the build source `gcloud builds submit` uploads (created when "
        "missing, where gcloud would create it)"
    )
    create = gcloud_argv(*bucket_create_args(bucket), project=prod.target.project)
    return Step(phase, text, Call(GCLOUD, "bucket", bucket, (create,)))


def _batch_bucket(prod: Production, phase: str) -> list[Step]:
    """The batch lane's bucket with its lifecycle rule, and Vertex AI's service agent (made
    now: a grant to an agent that does not exist yet fails); none without AIEXEC_BATCH_BUCKET."""
    bucket = prod.batch_bucket
    if bucket is None:
        return []
    project = prod.target.project
    text = (
        f"gs://{bucket.name} in {bucket.location}: the batch lane's job files under "
        f"{bucket.prefix} (created when missing; uniform access, no public access); lifecycle: "
        f"objects under {bucket.prefix} deleted {bucket.delete_after_days} days after creation "
        f"(AIEXEC_BATCH_BUCKET_DELETE_AFTER_DAYS), rule "
        f"{json.dumps(bucket.lifecycle(), separators=(',', ':'))}"
    )
    shown = (
        gcloud_argv(*batch_bucket_create_args(bucket), project=project),
        gcloud_argv(*lifecycle_args(bucket, "<the rule above>.json"), project=project),
    )
    agent = gcloud_argv(
        "beta", "services", "identity", "create", "--service=aiplatform.googleapis.com",
        project=project,
    )  # fmt: skip
    return [
        Step(phase, text, Call(GCLOUD, "batch-bucket", bucket, shown)),
        Step(
            phase,
            f"{prod.target.aiplatform_agent}: Vertex AI's service agent (created when missing)",
            Command(agent),
        ),
    ]


def bootstrap_steps(prod: Production) -> list[Step]:
    """What a project owner applies (`--bootstrap-only`), checked and created where missing:
    APIs, the Firestore database, secrets, the custom role, the build identities and their
    roles, the runtime identities, who may act as them, and who may read which secret."""
    boot = prod.bootstrap
    build = f"{BOOTSTRAP}: build service accounts"
    runtime = f"{BOOTSTRAP}: runtime service accounts"
    return [
        _apis(prod, boot),
        _database(prod, boot),
        *_secret_steps(prod, boot),
        *_custom_roles(prod, boot.custom_roles),
        *service_account_steps(prod, boot.accounts, build),
        *binding_steps(prod, build, ("project",), bindings=boot.bindings),
        *_revocations(prod, boot, build),
        _source_bucket(prod, boot, build),
        *binding_steps(prod, build, ("bucket", "service-account"), bindings=boot.bindings),
        *service_account_steps(prod, phase=runtime),
        *_batch_bucket(prod, runtime),
        *binding_steps(prod, runtime, ("service-account", "bucket")),
        *binding_steps(prod, f"{BOOTSTRAP}: secret access", ("secret",)),
    ]
