"""The deploy bootstrap (APIs, the Firestore database, secrets, the build identities), secret
versions pinned at deploy time, and the preflight refusals — against a fake gcloud."""

from __future__ import annotations

import re
import subprocess

import pytest

from infra.deploy.bootstrap import (
    INVOKER_ADMIN,
    REVOKED_DEPLOYER_ROLES,
    GeneratedSecret,
    RequiredSecret,
)
from infra.deploy.model import UNRESOLVED, Binding, Condition
from infra.topology import MAX_ACK_DEADLINE_S, PUSH_START_MARGIN_S
from shared.cli.main import main
from shared.deploy import gcp
from shared.deploy.apply import Applier, DeployError
from shared.deploy.plan import (
    Command,
    bootstrap_steps,
    build_plan,
    deploy_command,
    full_plan,
    render,
)
from shared.deploy.preflight import (
    PreflightContext,
    bootstrap_applied,
    missing_secrets,
    refusals,
)
from tests.deploy.conftest import NUMBER, PROJECT, REGION, FakeGcloud, production

pytestmark = pytest.mark.usefixtures("default_settings_env")

DEPLOYER = f"serviceAccount:aiexec-deployer@{PROJECT}.iam.gserviceaccount.com"
BUILDER = f"serviceAccount:aiexec-builder@{PROJECT}.iam.gserviceaccount.com"
TESTER = f"serviceAccount:aiexec-tester@{PROJECT}.iam.gserviceaccount.com"
INVOKER_ROLE = f"projects/{PROJECT}/roles/aiexecInvokerAdmin"
DATABASE_ONLY = f'resource.name == "projects/{PROJECT}/databases/(default)"'
MODIFIED_GRANTS = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
IAM_ADMIN_ONLY = f"{MODIFIED_GRANTS}.hasOnly(['roles/aiplatform.user', 'roles/datastore.user'])"
OPENAI_SECRET, PEPPER = "aiexec-openai-api-key", "aiexec-api-key-pepper"
# Roles that would work but that the docs make unnecessary (or that are far too broad).
NEVER_GRANTED = {
    "roles/editor",
    "roles/owner",
    "roles/cloudbuild.builds.builder",  # the legacy builder role: run.builder replaces it
    "roles/cloudbuild.builds.editor",
    "roles/storage.admin",
    "roles/storage.objectAdmin",
    "roles/iam.serviceAccountUser",  # never on the project: per account only
    "roles/secretmanager.secretAccessor",  # the deployer mounts secrets, never reads them
    # roles that could grant others anything (or read every secret): gone from the deployer
    "roles/run.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/secretmanager.admin",
    "roles/iam.securityAdmin",
}
# The deployer's project roles and, for the narrowed ones, their condition.
DEPLOYER_GRANTS = {
    "roles/cloudfunctions.developer": None,
    INVOKER_ROLE: None,
    "roles/resourcemanager.projectIamAdmin": IAM_ADMIN_ONLY,
    "roles/pubsub.admin": None,
    "roles/cloudscheduler.admin": None,
    "roles/datastore.indexAdmin": None,
    "roles/datastore.viewer": DATABASE_ONLY,
    "roles/secretmanager.viewer": (
        f'resource.name.startsWith("projects/{NUMBER}/secrets/aiexec-") || '
        f'resource.name.startsWith("projects/{PROJECT}/secrets/aiexec-")'
    ),
    "roles/serviceusage.serviceUsageViewer": None,
    "roles/cloudbuild.builds.viewer": None,
    "roles/logging.logWriter": None,
}


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
        RequiredSecret(OPENAI_SECRET, "OPENAI_API_KEY", ("worker-openai",)),
    )
    assert boot.generated_secrets == (
        GeneratedSecret(PEPPER, "AIEXEC_API_KEY_PEPPER", ("ingest",), 32),
    )
    assert production().bootstrap.generated_secrets == ()  # keys off: ingest mounts no pepper
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
    assert runtime_roles == {"roles/datastore.user", "roles/aiplatform.user"}
    iam_admin = grants[(DEPLOYER, "roles/resourcemanager.projectIamAdmin")]
    assert iam_admin is not None
    assert iam_admin.expression == f"{MODIFIED_GRANTS}.hasOnly({sorted(runtime_roles)!r})"
    openai_only = production(providers=["openai"]).bootstrap.bindings
    narrowed = next(b for b in openai_only if b.role == "roles/resourcemanager.projectIamAdmin")
    assert narrowed.condition is not None
    assert narrowed.condition.expression == f"{MODIFIED_GRANTS}.hasOnly(['roles/datastore.user'])"
    # No mounted secret (keys off, no provider key): no Secret Manager role at all.
    keyless = production(provider_key_secrets="", providers=["vertex"]).bootstrap.bindings
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
        f"{OPENAI_SECRET} → OPENAI_API_KEY of worker-openai: must exist, mounted as "
        f"{OPENAI_SECRET}:{UNRESOLVED}",
        f'`printf %s "$OPENAI_API_KEY" | gcloud secrets create {OPENAI_SECRET} --data-file=- '
        f"--project={PROJECT}`",
        f"{PEPPER} → AIEXEC_API_KEY_PEPPER of ingest: generated when missing (32 random bytes",
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


# --- applying the bootstrap against a fake gcloud --------------------------------------


def bootstrap_applier(fake: FakeGcloud, **overrides: object) -> Applier:
    return Applier(production(**overrides), run=fake, echo=lambda _: None)


def bootstrapped(**overrides: object) -> FakeGcloud:
    """A project a project owner has bootstrapped (the OpenAI key stored first)."""
    fake = FakeGcloud()
    fake.add_secret(OPENAI_SECRET)
    applier = bootstrap_applier(fake, **overrides)
    applier.apply(bootstrap_steps(applier.prod))
    return fake


def test_a_deploy_checks_the_bootstrap_and_names_the_owners_command() -> None:
    """The deployer creates no identity and grants no secret: a deploy reads what the bootstrap
    made, and refuses — naming `--bootstrap-only` — while anything is missing."""
    prod = production(api_keys_required=True)
    fresh = FakeGcloud()
    fresh.add_secret(OPENAI_SECRET)
    messages = refusals(PreflightContext(prod, online=True, run=fresh), [bootstrap_applied])
    assert messages and all("--bootstrap-only" in m for m in messages)
    text = "\n".join(messages)
    for missing in (
        "APIs not enabled",
        "Firestore database (default)",
        f"secret {PEPPER}",
        f"runtime identity aiexec-ingest@{PROJECT}",
        f"may not read secret {OPENAI_SECRET}",
    ):
        assert missing in text, missing  # fmt: skip
    # the owner bootstraps it: nothing left to refuse
    done = bootstrapped(api_keys_required=True)
    assert refusals(PreflightContext(prod, online=True, run=done)) == []
    # a secret access removed by hand: refused again, naming the reader that is missing
    done.secret_policies[OPENAI_SECRET].clear()
    (message,) = refusals(PreflightContext(prod, online=True, run=done))
    assert f"aiexec-worker-openai@{PROJECT}.iam.gserviceaccount.com may not read secret" in message
    # applying the bootstrap itself is not refused for what it is about to create
    assert refusals(PreflightContext(prod, online=True, run=fresh, bootstrap_only=True)) == []


def test_the_bootstrap_creates_what_is_missing_and_nothing_the_second_time() -> None:
    fake = FakeGcloud()
    fake.add_secret(OPENAI_SECRET, "sk-test")
    applier = bootstrap_applier(fake, api_keys_required=True)
    steps = bootstrap_steps(applier.prod)
    outcomes = [outcome for _, outcome in applier.apply(steps)]
    assert outcomes[0].startswith("enabled ")
    assert {api.name for api in applier.prod.bootstrap.apis} <= fake.enabled
    assert fake.database == ("FIRESTORE_NATIVE", REGION)
    assert "present (version 1)" in outcomes
    assert "created (32 random bytes)" in outcomes
    assert {"aiexec-deployer", "aiexec-builder", "aiexec-tester"} <= fake.created
    assert {sa.account_id for sa in applier.prod.service_accounts} <= fake.created
    granted = {(role, who, expression) for role, who, expression in fake.project_policy}
    assert granted == {
        (b.role, b.member, b.condition.expression if b.condition else None)
        for b in applier.prod.bootstrap.bindings
        if b.kind == "project"
    }
    assert sorted(fake.roles[INVOKER_ADMIN.role_id]) == sorted(INVOKER_ADMIN.permissions)
    assert f"gs://{PROJECT}_cloudbuild" in fake.buckets
    assert fake.secret_policies[OPENAI_SECRET] == {
        ("roles/secretmanager.secretAccessor",
         f"serviceAccount:aiexec-worker-openai@{PROJECT}.iam.gserviceaccount.com"),
    }  # fmt: skip

    fake.argvs.clear()
    again = [outcome for _, outcome in Applier(applier.prod, run=fake).apply(steps)]
    assert again[:2] == ["unchanged", "unchanged"]
    assert not fake.ran("services", "enable")
    assert not fake.ran("firestore", "databases", "create")
    assert not fake.ran("secrets", "create")
    assert not fake.ran("iam", "service-accounts", "create")
    assert not fake.ran("iam", "roles", "create") and not fake.ran("iam", "roles", "update")
    assert not fake.ran("storage", "buckets", "create")
    assert not fake.ran("projects", "add-iam-policy-binding")  # read first: all held


def test_the_bootstrap_narrows_an_older_deployer_and_restores_a_drifted_role() -> None:
    """A project bootstrapped before: the deployer holds run.admin, serviceAccountAdmin,
    secretmanager.admin and an unconditional Project IAM Admin; the custom role lost a
    permission. One bootstrap later, only the narrowed grants are left."""
    fake = FakeGcloud()
    fake.add_secret(OPENAI_SECRET)
    for role in (*REVOKED_DEPLOYER_ROLES, "roles/resourcemanager.projectIamAdmin"):
        fake.project_policy.append((role, DEPLOYER, None))
    fake.roles[INVOKER_ADMIN.role_id] = ["run.services.get"]
    applier = bootstrap_applier(fake)
    results = dict(
        (s.text.splitlines()[0], o) for s, o in applier.apply(bootstrap_steps(applier.prod))
    )
    held = {(role, expr) for role, who, expr in fake.project_policy if who == DEPLOYER}
    assert not {role for role, _ in held} & set(REVOKED_DEPLOYER_ROLES)
    admin = [expr for role, expr in held if role == "roles/resourcemanager.projectIamAdmin"]
    assert admin == [DEPLOYER_GRANTS["roles/resourcemanager.projectIamAdmin"]]
    assert "granted; unconditional grant revoked" in results.values()
    assert sorted(fake.roles[INVOKER_ADMIN.role_id]) == sorted(INVOKER_ADMIN.permissions)
    assert sum(o == "revoked" for o in results.values()) == len(REVOKED_DEPLOYER_ROLES)


def test_a_project_grant_reads_the_policy_first_and_replaces_an_older_condition() -> None:
    fake = FakeGcloud()
    who = f"serviceAccount:aiexec-report@{PROJECT}.iam.gserviceaccount.com"
    old = Condition("aiexec-firestore-database-only", 'resource.name == "projects/x/databases/y"')
    fake.titles[old.expression] = old.title
    fake.project_policy.append(("roles/datastore.user", who, old.expression))
    new = Condition("aiexec-firestore-database-only", DATABASE_ONLY)
    grant = Binding("project", PROJECT, "roles/datastore.user", who, "", new)
    assert gcp.ensure_project_binding(fake, PROJECT, grant) == "granted; old condition revoked"
    assert fake.project_policy == [("roles/datastore.user", who, DATABASE_ONLY)]
    assert gcp.ensure_project_binding(fake, PROJECT, grant) == "unchanged"
    # another title is someone else's grant: kept
    other = Condition("ops-break-glass", "request.time < timestamp('2030-01-01T00:00:00Z')")
    fake.titles[other.expression] = other.title
    fake.project_policy.append(("roles/datastore.user", who, other.expression))
    assert gcp.ensure_project_binding(fake, PROJECT, grant) == "unchanged"
    assert len(fake.project_policy) == 2
    # the --condition value survives expressions with commas, quotes and ||
    flag = gcp.condition_flag(Condition("t", "a.hasOnly(['x', 'y']) || b == \"c,d\"", "e, f"))
    expected = "^;^expression=a.hasOnly(['x', 'y']) || b == \"c,d\";title=t;description=e, f"
    assert flag == f"--condition={expected}"
    assert gcp.condition_flag(None) == "--condition=None"


def test_the_pepper_is_generated_when_missing_and_never_regenerated() -> None:
    fake, secret = FakeGcloud(), GeneratedSecret(PEPPER, "AIEXEC_API_KEY_PEPPER", ("ingest",))
    assert gcp.ensure_generated_secret(fake, PROJECT, secret) == "created (32 random bytes)"
    ((argv, value),) = fake.inputs
    assert argv[1:4] == ["secrets", "create", PEPPER] and "--data-file=-" in argv
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)  # 32 random bytes, URL-safe base64
    assert value not in " ".join(" ".join(a) for a in fake.argvs)  # never on a command line
    for _ in range(2):
        outcome = gcp.ensure_generated_secret(fake, PROJECT, secret)
        assert outcome == "unchanged (version 1; never regenerated)"
    assert fake.secrets[PEPPER] == [("ENABLED", value)]
    # A pepper someone stored by hand is kept as it is, too.
    kept = FakeGcloud()
    kept.add_secret(PEPPER, "chosen-by-an-operator")
    assert gcp.ensure_generated_secret(kept, PROJECT, secret).startswith("unchanged")
    assert kept.inputs == [] and kept.secrets[PEPPER] == [("ENABLED", "chosen-by-an-operator")]
    # A secret without any version gets its first one (no second `create`).
    empty = FakeGcloud()
    empty.secrets[PEPPER] = []
    assert gcp.ensure_generated_secret(empty, PROJECT, secret).startswith("created")
    assert empty.ran("secrets", "versions", "add") and not empty.ran("secrets", "create")
    # A disabled latest version is not silently replaced: stored key hashes depend on it.
    disabled = FakeGcloud()
    disabled.add_secret(PEPPER, "old", state="DISABLED")
    with pytest.raises(gcp.GcloudError, match="not replaced"):
        gcp.ensure_generated_secret(disabled, PROJECT, secret)


def test_a_datastore_mode_database_is_refused() -> None:
    fake = FakeGcloud()
    fake.database = ("DATASTORE_MODE", REGION)
    db = production().bootstrap.database
    with pytest.raises(gcp.GcloudError, match="native mode"):
        gcp.ensure_database(fake, PROJECT, db)
    fake.database = ("FIRESTORE_NATIVE", "eur3")
    assert "cannot move" in gcp.ensure_database(fake, PROJECT, db)


# --- preflight: a missing OpenAI key refuses the deploy ---------------------------------


def test_a_missing_openai_key_is_a_refusal_naming_the_create_command() -> None:
    prod = production()
    fake = FakeGcloud()
    only = [missing_secrets]
    (message,) = refusals(PreflightContext(prod, online=True, run=fake), only)
    assert message == (
        f"secret {OPENAI_SECRET} (OPENAI_API_KEY of worker-openai) does not exist (or has no "
        f'version); create it: printf %s "$OPENAI_API_KEY" | gcloud secrets create '
        f"{OPENAI_SECRET} --data-file=- --project={PROJECT}"
    )
    assert refusals(PreflightContext(prod, online=False, run=fake)) == []  # dry run: offline
    fake.add_secret(OPENAI_SECRET)
    assert refusals(PreflightContext(prod, online=True, run=fake), only) == []
    # The Secret Manager API still off: say so, and both commands that fix it.
    off = FakeGcloud(fail="secrets versions describe")

    def disabled(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        done = off(argv, **kwargs)
        if "secrets" in argv:
            done.stderr = "ERROR: PERMISSION_DENIED: ... [reason: SERVICE_DISABLED]"
        return done

    (message,) = refusals(PreflightContext(prod, online=True, run=disabled), only)
    assert "gcloud services enable secretmanager.googleapis.com" in message
    assert "gcloud secrets create aiexec-openai-api-key" in message


def test_a_real_deploy_without_the_openai_key_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeGcloud()
    monkeypatch.setattr(subprocess, "run", fake)
    for name in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):  # a session stack's
        monkeypatch.delenv(name, raising=False)
    assert main(["deploy", "--project", PROJECT, "--region", REGION]) == 2
    err = capsys.readouterr().err
    assert f"refused: secret {OPENAI_SECRET}" in err
    assert f"gcloud secrets create {OPENAI_SECRET} --data-file=-" in err
    assert "--force" in err
    assert "the bootstrap is incomplete" in err and "--bootstrap-only" in err
    reads = {
        ("projects", "describe"), ("secrets", "versions"), ("services", "list"),
        ("firestore", "databases"), ("iam", "service-accounts"), ("secrets", "get-iam-policy"),
    }  # fmt: skip
    assert all(tuple(argv[1:3]) in reads for argv in fake.argvs), fake.argvs
    assert not any("create" in argv or "add-iam-policy-binding" in argv for argv in fake.argvs)
    # --force skips the refusal; the bootstrap's own check still stops at the missing key.
    argv = ["deploy", "--project", PROJECT, "--region", REGION, "--bootstrap-only", "--force"]
    assert main(argv) == 1
    assert "does not exist" in capsys.readouterr().err
    fake.add_secret(OPENAI_SECRET)
    assert main(argv[:-1]) == 0
    assert "bootstrapped" in capsys.readouterr().out
    assert fake.database == ("FIRESTORE_NATIVE", REGION)


# --- secret versions pinned at deploy time ----------------------------------------------


def test_secrets_are_pinned_to_the_version_current_at_deploy_time() -> None:
    fake = FakeGcloud()
    for value in ("k1", "k2", "k3"):
        fake.add_secret(OPENAI_SECRET, value)
    fake.add_secret(PEPPER)
    prod = production(api_keys_required=True, smtp_password_secret="smtp:2")
    assert prod.unpinned_secrets == (PEPPER, OPENAI_SECRET)  # smtp:2 is pinned by the settings
    versions = gcp.resolve_secret_versions(fake, PROJECT, prod.unpinned_secrets)
    assert versions == {OPENAI_SECRET: "3", PEPPER: "1"}
    pinned = prod.with_secret_versions(versions)
    assert pinned.unpinned_secrets == ()
    by_name = {fn.name: deploy_command(fn, pinned) for fn in pinned.functions}
    assert f"--set-secrets=OPENAI_API_KEY={OPENAI_SECRET}:3" in by_name["worker-openai"]
    assert f"--set-secrets=AIEXEC_API_KEY_PEPPER={PEPPER}:1" in by_name["ingest"]
    assert "--set-secrets=AIEXEC_SMTP_PASSWORD=smtp:2" in by_name["report"]
    assert f"{OPENAI_SECRET}:3" in render(pinned, full_plan(pinned))
    # A rotation (a new version) changes the deploy command: the next deploy rolls a revision.
    fake.add_secret(OPENAI_SECRET, "k4")
    rotated = prod.with_secret_versions(
        gcp.resolve_secret_versions(fake, PROJECT, (OPENAI_SECRET, PEPPER))
    )
    assert deploy_command(rotated.function("worker-openai"), rotated) != by_name["worker-openai"]
    # Nothing is ever deployed with an unresolved version.
    unpinned = [
        s
        for s in build_plan(prod)
        if isinstance(s.action, Command)
        and s.action.argv[1:4] == ("functions", "deploy", "worker-openai")
    ]
    assert len(unpinned) == 1
    with pytest.raises(DeployError, match="not resolved"):
        Applier(prod, run=FakeGcloud(), echo=lambda _: None).apply(unpinned)
    fake.secrets[OPENAI_SECRET].append(("DISABLED", "k5"))
    with pytest.raises(gcp.GcloudError, match="cannot pin"):
        gcp.resolve_secret_versions(fake, PROJECT, (OPENAI_SECRET,))
    assert NUMBER in fake._latest(PEPPER)[1]


# --- preflight: a retired or unknown model refuses the deploy ----------------------------


def test_a_retired_or_unknown_configured_model_is_a_refusal_even_in_a_dry_run() -> None:
    fake = bootstrapped()
    assert refusals(PreflightContext(production(), online=True, run=fake)) == []
    prod = production(vertex_model="gemini-2.0-flash", openai_fallback_model="gpt-4o-minii")
    messages = refusals(PreflightContext(prod, online=False, run=fake))
    assert len(messages) == 2, messages
    retired = next(m for m in messages if "gemini-2.0-flash" in m)
    assert "shut down on 2026-02-05" in retired and "replacement: gemini-3.8-flash" in retired
    assert "configured as default" in retired
    unknown = next(m for m in messages if "gpt-4o-minii" in m)
    assert "not in the model catalog" in unknown and "configured as fallback" in unknown


def test_a_deploy_with_a_retired_model_stops_unless_forced(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeGcloud()
    fake.add_secret(OPENAI_SECRET)
    monkeypatch.setattr(subprocess, "run", fake)
    for name in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):  # a session stack's
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIEXEC_OPENAI_MODEL", "gpt-4.1-nano")
    argv = ["deploy", "--project", PROJECT, "--region", REGION, "--bootstrap-only"]
    assert main(argv) == 2
    assert "refused: openai model 'gpt-4.1-nano' was shut down" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    assert "bootstrapped" in capsys.readouterr().out
