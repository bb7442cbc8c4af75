"""What a deploy checks before it changes anything (preflight refusals: a missing OpenAI key,
a retired or unknown model) and the secret versions it pins at deploy time."""

from __future__ import annotations

import subprocess

import pytest

from aiexec.cli.main import main
from infra.deploy.apply import Applier, DeployError
from infra.deploy.gcp.gcloud import GcloudError
from infra.deploy.gcp.secret_manager import resolve_secret_versions
from infra.deploy.plan import full_plan
from infra.deploy.plan.deployment import build_plan
from infra.deploy.plan.functions import deploy_command
from infra.deploy.plan.render import render
from infra.deploy.plan.steps import Command
from infra.deploy.preflight import (
    PreflightContext,
    missing_secrets,
    refusals,
)
from tests.deploy.conftest import (
    CALLBACK_SECRET,
    NUMBER,
    OPENAI_SECRET,
    PEPPER,
    PROJECT,
    REGION,
    FakeGcloud,
    bootstrapped,
    production,
)

pytestmark = pytest.mark.usefixtures("default_settings_env")


# --- preflight: a missing OpenAI key refuses the deploy ---------------------------------


def test_a_missing_openai_key_is_a_refusal_naming_the_create_command() -> None:
    prod = production()
    fake = FakeGcloud()
    only = [missing_secrets]
    (message,) = refusals(PreflightContext(prod, online=True, run=fake), only)
    assert message == (
        f"secret {OPENAI_SECRET} (OPENAI_API_KEY of worker-openai, poller, batcher) does not "
        "exist (or has no "
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
    fake.add_secret(CALLBACK_SECRET)
    prod = production(api_keys_required=True, smtp_password_secret="smtp:2")
    # smtp:2 is pinned by the settings
    assert prod.unpinned_secrets == (PEPPER, CALLBACK_SECRET, OPENAI_SECRET)
    versions = resolve_secret_versions(fake, PROJECT, prod.unpinned_secrets)
    assert versions == {OPENAI_SECRET: "3", PEPPER: "1", CALLBACK_SECRET: "1"}
    pinned = prod.with_secret_versions(versions)
    assert pinned.unpinned_secrets == ()
    by_name = {fn.name: deploy_command(fn, pinned) for fn in pinned.functions}
    assert f"--set-secrets=OPENAI_API_KEY={OPENAI_SECRET}:3" in by_name["worker-openai"]
    assert f"--set-secrets=AIEXEC_API_KEY_PEPPER={PEPPER}:1" in by_name["ingest"]
    assert "--set-secrets=AIEXEC_SMTP_PASSWORD=smtp:2" in by_name["report"]
    assert f"--set-secrets=AIEXEC_CALLBACK_SECRET={CALLBACK_SECRET}:1" in by_name["callbacks"]
    assert f"{OPENAI_SECRET}:3" in render(pinned, full_plan(pinned))
    # A rotation (a new version) changes the deploy command: the next deploy rolls a revision.
    fake.add_secret(OPENAI_SECRET, "k4")
    rotated = prod.with_secret_versions(
        resolve_secret_versions(fake, PROJECT, prod.unpinned_secrets)
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
    with pytest.raises(GcloudError, match="cannot pin"):
        resolve_secret_versions(fake, PROJECT, (OPENAI_SECRET,))
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
