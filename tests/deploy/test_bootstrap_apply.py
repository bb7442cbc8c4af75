"""Applying the bootstrap against a fake gcloud: created when missing, nothing the second time,
older grants narrowed, the pepper never regenerated, and what a deploy checks of it."""

from __future__ import annotations

import re

import pytest

from infra.deploy.apply import Applier
from infra.deploy.bootstrap import (
    INVOKER_ADMIN,
    REVOKED_DEPLOYER_ROLES,
    GeneratedSecret,
)
from infra.deploy.gcp.firestore import ensure_database
from infra.deploy.gcp.gcloud import GcloudError
from infra.deploy.gcp.project_iam import condition_flag, ensure_project_binding
from infra.deploy.gcp.secret_manager import ensure_generated_secret
from infra.deploy.model import Binding, Condition
from infra.deploy.plan.bootstrap import bootstrap_steps
from infra.deploy.preflight import (
    PreflightContext,
    bootstrap_applied,
    refusals,
)
from tests.deploy.conftest import (
    OPENAI_SECRET,
    PEPPER,
    PROJECT,
    REGION,
    FakeGcloud,
    bootstrap_applier,
    bootstrapped,
    production,
)
from tests.deploy.documented_grants import (
    DATABASE_ONLY,
    DEPLOYER,
    DEPLOYER_GRANTS,
)

pytestmark = pytest.mark.usefixtures("default_settings_env")


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
    messages = refusals(PreflightContext(prod, online=True, run=done))
    for reader in ("worker-openai", "batcher", "poller"):  # the batch lane calls OpenAI too
        needed = f"aiexec-{reader}@{PROJECT}.iam.gserviceaccount.com may not read secret"
        assert any(needed in message for message in messages), reader
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
         f"serviceAccount:aiexec-{reader}@{PROJECT}.iam.gserviceaccount.com")
        for reader in ("worker-openai", "batcher", "poller")
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
    assert ensure_project_binding(fake, PROJECT, grant) == "granted; old condition revoked"
    assert fake.project_policy == [("roles/datastore.user", who, DATABASE_ONLY)]
    assert ensure_project_binding(fake, PROJECT, grant) == "unchanged"
    # another title is someone else's grant: kept
    other = Condition("ops-break-glass", "request.time < timestamp('2030-01-01T00:00:00Z')")
    fake.titles[other.expression] = other.title
    fake.project_policy.append(("roles/datastore.user", who, other.expression))
    assert ensure_project_binding(fake, PROJECT, grant) == "unchanged"
    assert len(fake.project_policy) == 2
    # the --condition value survives expressions with commas, quotes and ||
    flag = condition_flag(Condition("t", "a.hasOnly(['x', 'y']) || b == \"c,d\"", "e, f"))
    expected = "^;^expression=a.hasOnly(['x', 'y']) || b == \"c,d\";title=t;description=e, f"
    assert flag == f"--condition={expected}"
    assert condition_flag(None) == "--condition=None"


def test_the_pepper_is_generated_when_missing_and_never_regenerated() -> None:
    fake, secret = FakeGcloud(), GeneratedSecret(PEPPER, "AIEXEC_API_KEY_PEPPER", ("ingest",))
    assert ensure_generated_secret(fake, PROJECT, secret) == "created (32 random bytes)"
    ((argv, value),) = fake.inputs
    assert argv[1:4] == ["secrets", "create", PEPPER] and "--data-file=-" in argv
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)  # 32 random bytes, URL-safe base64
    assert value not in " ".join(" ".join(a) for a in fake.argvs)  # never on a command line
    for _ in range(2):
        outcome = ensure_generated_secret(fake, PROJECT, secret)
        assert outcome == "unchanged (version 1; never regenerated)"
    assert fake.secrets[PEPPER] == [("ENABLED", value)]
    # A pepper someone stored by hand is kept as it is, too.
    kept = FakeGcloud()
    kept.add_secret(PEPPER, "chosen-by-an-operator")
    assert ensure_generated_secret(kept, PROJECT, secret).startswith("unchanged")
    assert kept.inputs == [] and kept.secrets[PEPPER] == [("ENABLED", "chosen-by-an-operator")]
    # A secret without any version gets its first one (no second `create`).
    empty = FakeGcloud()
    empty.secrets[PEPPER] = []
    assert ensure_generated_secret(empty, PROJECT, secret).startswith("created")
    assert empty.ran("secrets", "versions", "add") and not empty.ran("secrets", "create")
    # A disabled latest version is not silently replaced: stored key hashes depend on it.
    disabled = FakeGcloud()
    disabled.add_secret(PEPPER, "old", state="DISABLED")
    with pytest.raises(GcloudError, match="not replaced"):
        ensure_generated_secret(disabled, PROJECT, secret)


def test_a_datastore_mode_database_is_refused() -> None:
    fake = FakeGcloud()
    fake.database = ("DATASTORE_MODE", REGION)
    db = production().bootstrap.database
    with pytest.raises(GcloudError, match="native mode"):
        ensure_database(fake, PROJECT, db)
    fake.database = ("FIRESTORE_NATIVE", "eur3")
    assert "cannot move" in ensure_database(fake, PROJECT, db)


def test_the_callback_secret_is_generated_as_a_signing_secret_and_never_regenerated() -> None:
    from shared.callbacks.signing import decode_secret

    name = "aiexec-callback-secret"
    fake = FakeGcloud()
    secret = GeneratedSecret(name, "AIEXEC_CALLBACK_SECRET", ("callbacks",), format="whsec")
    assert ensure_generated_secret(fake, PROJECT, secret) == "created (32 random bytes)"
    ((argv, value),) = fake.inputs
    assert argv[1:4] == ["secrets", "create", name] and "--data-file=-" in argv
    assert value.startswith("whsec_") and len(decode_secret(value)) == 32  # what signing reads
    assert value not in " ".join(" ".join(a) for a in fake.argvs)
    assert ensure_generated_secret(fake, PROJECT, secret).startswith("unchanged")
    assert fake.secrets[name] == [("ENABLED", value)]
