"""The deploy bootstrap as planned (APIs, the Firestore database, secrets, the build
identities and their exact roles) and its dry-run output."""

from __future__ import annotations

import subprocess

import pytest

from aiexec.cli.main import main
from infra.deploy.bootstrap import (
    INVOKER_ADMIN,
    REVOKED_DEPLOYER_ROLES,
    GeneratedSecret,
    RequiredSecret,
)
from infra.deploy.model import UNRESOLVED
from infra.deploy.plan import full_plan
from infra.deploy.plan.deployment import build_plan
from infra.deploy.plan.functions import deploy_command
from infra.deploy.plan.render import render
from infra.deploy.plan.steps import Command
from infra.topology import MAX_ACK_DEADLINE_S, PUSH_START_MARGIN_S
from tests.deploy.conftest import (
    CALLBACK_SECRET,
    OPENAI_SECRET,
    PEPPER,
    PROJECT,
    REGION,
    production,
)
from tests.deploy.documented_grants import (
    BUILDER,
    DATABASE_ONLY,
    DEPLOYER,
    DEPLOYER_GRANTS,
    IAM_ADMIN_ONLY,
    INVOKER_ROLE,
    MODIFIED_GRANTS,
    NEVER_GRANTED,
    TESTER,
)

pytestmark = pytest.mark.usefixtures("default_settings_env")


# --- the plan --------------------------------------------------------------------------


def test_the_bootstrap_lists_apis_database_secrets_and_build_accounts() -> None:
    prod = production(api_keys_required=True)
    boot = prod.bootstrap
    apis = {api.name for api in boot.apis}
    assert apis >= {
        f"{name}.googleapis.com"
        for name in (
            "run", "cloudfunctions", "cloudbuild", "pubsub", "firestore", "secretmanager",
            "cloudscheduler", "aiplatform", "artifactregistry", "iam", "logging",
        )
    }  # fmt: skip
    assert "eventarc.googleapis.com" not in apis  # HTTP functions fed by our own subscriptions
    assert "aiplatform.googleapis.com" not in {
        api.name for api in production(providers=["openai"]).bootstrap.apis
    }
    assert (boot.database.name, boot.database.location, boot.database.type) == (
        "(default)", REGION, "firestore-native",
    )  # fmt: skip
    assert boot.required_secrets == (
        # the batch lane's functions call OpenAI's batch API with the same key
        RequiredSecret(OPENAI_SECRET, "OPENAI_API_KEY", ("worker-openai", "poller", "batcher")),
    )
    callback_secret = GeneratedSecret(
        CALLBACK_SECRET, "AIEXEC_CALLBACK_SECRET", ("callbacks",), 32, format="whsec"
    )
    assert boot.generated_secrets == (
        callback_secret,
        GeneratedSecret(PEPPER, "AIEXEC_API_KEY_PEPPER", ("ingest",), 32),
    )
    # keys off: ingest mounts no pepper; the callbacks' signing secret stays
    assert production().bootstrap.generated_secrets == (callback_secret,)
    assert production(callback_secret_name="").bootstrap.generated_secrets == ()
    assert [sa.email for sa in boot.accounts] == [
        f"aiexec-deployer@{PROJECT}.iam.gserviceaccount.com",
        f"aiexec-builder@{PROJECT}.iam.gserviceaccount.com",
        f"aiexec-tester@{PROJECT}.iam.gserviceaccount.com",
    ]
    phases = list(dict.fromkeys(s.phase for s in full_plan(prod)))
    assert phases[:7] == [
        "bootstrap: APIs",
        "bootstrap: Firestore database",
        "bootstrap: secrets",
        "bootstrap: custom roles",
        "bootstrap: build service accounts",
        "bootstrap: runtime service accounts",
        "bootstrap: secret access",
    ]
    assert phases[7] == "project roles"  # then the deployment proper
    # Identities, who may act as them and who may read a secret: the owner's bootstrap only.
    deploy_kinds = {s.action.argv[1:3] for s in build_plan(prod) if isinstance(s.action, Command)}
    assert ("iam", "service-accounts") not in deploy_kinds
    assert ("secrets", "add-iam-policy-binding") not in deploy_kinds


def test_the_build_accounts_get_exactly_the_documented_roles() -> None:
    prod = production(api_keys_required=True)
    grants = {
        (b.member, b.role): b.condition for b in prod.bootstrap.bindings if b.kind == "project"
    }
    assert {
        role: c.expression if c else None for (m, role), c in grants.items() if m == DEPLOYER
    } == (DEPLOYER_GRANTS)
    assert [role for m, role in grants if m == BUILDER] == ["roles/run.builder"]
    # The tester holds nothing but its logs and read access to the build source bucket.
    assert [role for m, role in grants if m == TESTER] == ["roles/logging.logWriter"]
    tester = {(b.kind, b.resource, b.role) for b in prod.bootstrap.bindings if b.member == TESTER}
    assert tester == {
        ("project", PROJECT, "roles/logging.logWriter"),
        ("bucket", f"{PROJECT}_cloudbuild", "roles/storage.objectViewer"),
    }
    buckets = {
        (b.resource, b.role, b.member) for b in prod.bootstrap.bindings if b.kind == "bucket"
    }
    assert buckets == {
        (f"{PROJECT}_cloudbuild", "roles/storage.objectViewer", who) for who in (DEPLOYER, TESTER)
    }
    every = [*prod.bootstrap.bindings, *prod.bindings]
    project_roles = {b.role for b in every if b.kind == "project"}
    assert not project_roles & NEVER_GRANTED
    # The invoker role is custom: Cloud Run service policies, nothing else of Cloud Run.
    assert INVOKER_ADMIN.name(PROJECT) == INVOKER_ROLE
    assert set(INVOKER_ADMIN.permissions) == {
        "run.services.get", "run.services.getIamPolicy", "run.services.setIamPolicy",
    }  # fmt: skip
    # Project IAM Admin may grant exactly the project roles the runtime identities get.
    runtime_roles = {b.role for b in prod.bindings if b.kind == "project"}
    assert runtime_roles == {
        "roles/datastore.user", "roles/aiplatform.user", "roles/storage.objectViewer",
        "roles/cloudtrace.agent",
    }  # fmt: skip
    iam_admin = grants[(DEPLOYER, "roles/resourcemanager.projectIamAdmin")]
    assert iam_admin is not None
    assert iam_admin.expression == f"{MODIFIED_GRANTS}.hasOnly({sorted(runtime_roles)!r})"
    openai_only = production(providers=["openai"]).bootstrap.bindings
    narrowed = next(b for b in openai_only if b.role == "roles/resourcemanager.projectIamAdmin")
    assert narrowed.condition is not None
    assert narrowed.condition.expression == (
        f"{MODIFIED_GRANTS}.hasOnly(['roles/cloudtrace.agent', 'roles/datastore.user', "
        "'roles/storage.objectViewer'])"
    )
    # No mounted secret (keys off, no provider key): no Secret Manager role at all.
    keyless = production(
        provider_key_secrets="", providers=["vertex"], callback_secret_name=""
    ).bootstrap.bindings
    assert not any("secretmanager" in b.role for b in keyless)
    # What older bootstraps granted is revoked, whatever its condition.
    assert {(b.role, b.member) for b in prod.bootstrap.revoked} == {
        (role, DEPLOYER) for role in REVOKED_DEPLOYER_ROLES
    }
    assert set(REVOKED_DEPLOYER_ROLES) <= NEVER_GRANTED
    # Service Account User: per identity the deployer hands out (runtime, push, builder) only;
    # never on the tester, never on the project.
    acts_as = {
        b.resource
        for b in every
        if b.role == "roles/iam.serviceAccountUser" and b.member == DEPLOYER
    }
    assert acts_as == {sa.email for sa in prod.service_accounts} | {
        f"aiexec-builder@{PROJECT}.iam.gserviceaccount.com"
    }
    assert all(b.kind == "service-account" for b in every if "serviceAccountUser" in b.role)
    # the functions' images are built by the builder, not by the deployer or a default account
    for fn in prod.functions:
        argv = deploy_command(fn, prod)
        assert (
            f"--build-service-account=projects/{PROJECT}/serviceAccounts/"
            f"aiexec-builder@{PROJECT}.iam.gserviceaccount.com"
        ) in argv


def test_every_push_function_times_out_before_its_ack_deadline_and_nothing_expires() -> None:
    prod = production(openai_timeout_s=60)
    for fn in prod.functions:
        if fn.push_subscription is None:
            continue
        ack = prod.topology.subscription(fn.push_subscription).ack_deadline_s
        assert fn.timeout_s + PUSH_START_MARGIN_S <= ack <= MAX_ACK_DEADLINE_S, fn.name
        assert f"--timeout={fn.timeout_s}s" in deploy_command(fn, prod)
    assert prod.function("worker-openai").timeout_s == 60 * 3 + 30  # its lease
    assert prod.topology.subscription("tasks-openai-worker").ack_deadline_s == 240
    assert all(s.expiration_ttl_days is None for s in prod.topology.subscriptions)
    text = render(prod, build_plan(prod))
    subscriptions = [
        line for line in text.splitlines() if line.startswith("- subscription ") and " ack " in line
    ]
    assert len(subscriptions) == len(prod.topology.subscriptions)
    assert all("never expires" in line for line in subscriptions)


def test_dry_run_shows_the_bootstrap_and_unresolved_versions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIEXEC_API_KEYS_REQUIRED", "true")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dry run runs no command")

    monkeypatch.setattr(subprocess, "run", refuse)
    assert main(["deploy", "--project", PROJECT, "--region", REGION, "--dry-run"]) == 0
    out = capsys.readouterr().out
    for text in (
        "API keys: required (public ingest)",
        "## bootstrap: APIs [gcloud]",
        "gcloud services enable",
        "## bootstrap: Firestore database [gcloud]",
        f"--location={REGION} --type=firestore-native",
        "## bootstrap: secrets [gcloud]",
        f"{OPENAI_SECRET} → OPENAI_API_KEY of worker-openai, poller, batcher: must exist, "
        "mounted as "
        f"{OPENAI_SECRET}:{UNRESOLVED}",
        f'`printf %s "$OPENAI_API_KEY" | gcloud secrets create {OPENAI_SECRET} --data-file=- '
        f"--project={PROJECT}`",
        f"{PEPPER} → AIEXEC_API_KEY_PEPPER of ingest: generated when missing (32 random bytes",
        f"{CALLBACK_SECRET} → AIEXEC_CALLBACK_SECRET of callbacks: generated when missing "
        "(whsec_ + 32 random bytes, base64), never regenerated",
        f"gcloud secrets versions access latest --secret={CALLBACK_SECRET} --project={PROJECT}",
        "## bootstrap: custom roles [gcloud]",
        "## bootstrap: build service accounts [gcloud]",
        "roles/run.builder",
        f"OPENAI_API_KEY={OPENAI_SECRET}:{UNRESOLVED}",
        # the build accounts, each role with its condition
        f"project {PROJECT}: roles/logging.logWriter → {TESTER}",
        f"bucket {PROJECT}_cloudbuild: roles/storage.objectViewer → {TESTER}",
        f"project {PROJECT}: roles/resourcemanager.projectIamAdmin → {DEPLOYER}",
        f"only if [aiexec-runtime-project-roles-only]: {IAM_ADMIN_ONLY}",
        f"only if [aiexec-firestore-database-only]: {DATABASE_ONLY}",
        "only if [aiexec-mounted-secrets-only]: "
        'resource.name.startsWith("projects/PROJECT_NUMBER/secrets/aiexec-")',
        f"project {PROJECT}: roles/run.admin ✗ {DEPLOYER}  (revoked when held",
        f"{INVOKER_ROLE}: run.services.get, run.services.getIamPolicy, run.services.setIamPolicy",
        "## bootstrap: runtime service accounts [gcloud]",
        "## bootstrap: secret access [gcloud]",
    ):
        assert text in out, text
    for role in DEPLOYER_GRANTS:
        assert f"project {PROJECT}: {role} → {DEPLOYER}" in out, role
    only = ["deploy", "--project", PROJECT, "--region", REGION, "--dry-run", "--bootstrap-only"]
    assert main(only) == 0
    out = capsys.readouterr().out
    assert "## bootstrap: build service accounts" in out
    assert "gcloud functions deploy" not in out
