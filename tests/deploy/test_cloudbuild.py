"""`cloudbuild-test.yaml` (tests, as aiexec-tester) and `cloudbuild.yaml` (deploy, as
aiexec-deployer) parse, run their steps in a safe order, name their build accounts, call only
what exists; `make deploy` runs the test build first and hands its id to the deploy build."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiexec.cli.main import build_parser
from infra import cloudbuild_source

REPO = Path(__file__).resolve().parents[2]
DEPLOY_STEPS = ("verify", "install", "deploy", "smoke")
TEST_STEPS = cloudbuild_source.TEST_STEPS
# Values Cloud Build substitutes for its built-in variables.
BUILT_IN = {"PROJECT_ID": "acme-ai-prod", "BUILD_ID": "b-1", "SHORT_SHA": "abc1234"}


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    """The deploy build (as aiexec-deployer)."""
    loaded: dict[str, Any] = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def test_build() -> dict[str, Any]:
    """The test build (as aiexec-tester)."""
    loaded: dict[str, Any] = yaml.safe_load((REPO / "cloudbuild-test.yaml").read_text())
    return loaded


def dependencies(steps: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each step id → every step it (transitively) waits for, with Cloud Build's rules: no
    `waitFor` means all previous steps, `['-']` means none."""
    direct: dict[str, set[str]] = {}
    for index, step in enumerate(steps):
        wait = step.get("waitFor")
        if wait is None:
            direct[step["id"]] = {s["id"] for s in steps[:index]}
        else:
            direct[step["id"]] = {w for w in wait if w != "-"}
    closure: dict[str, set[str]] = {}
    for step_id, waits in direct.items():
        todo, seen = list(waits), set()
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo += direct[dep]
        closure[step_id] = seen
    return closure


def substitute(text: str, build: dict[str, Any]) -> str:
    values = BUILT_IN | build.get("substitutions", {})

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"unknown substitution ${name}"
        return str(values[name])

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, text)


def command_lines(step: dict[str, Any], build: dict[str, Any]) -> list[list[str]]:
    """The argv the step runs (a `bash -c` script split into its commands)."""
    args = [substitute(str(a), build) for a in step.get("args", [])]
    if step.get("entrypoint") == "bash" and args[:1] == ["-c"]:
        return [shlex.split(line) for line in re.split(r"&&|;|\n", args[1]) if line.strip()]
    return [[step.get("entrypoint", ""), *args]]


def test_parses_with_the_substitutions_it_promises(
    build: dict[str, Any], test_build: dict[str, Any]
) -> None:
    assert {"_REGION", "_PROVIDERS", "_TESTED_BUILD"} <= set(build["substitutions"])
    assert build["substitutions"]["_TESTED_BUILD"] == ""  # no test build: the deploy refuses
    for config, ids in ((build, DEPLOY_STEPS), (test_build, TEST_STEPS)):
        steps = [step["id"] for step in config["steps"]]
        assert steps == list(ids)
        for step in config["steps"]:
            image = substitute(step["name"], config)
            assert image == "gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators"


def test_deploy_never_runs_before_its_source_was_verified(
    build: dict[str, Any], test_build: dict[str, Any]
) -> None:
    after = dependencies(build["steps"])
    assert build["steps"][0]["id"] == "verify" and build["steps"][0]["waitFor"] == ["-"]
    assert after["install"] >= {"verify"}
    assert after["deploy"] >= {"verify", "install"}
    assert after["smoke"] >= {"verify", "deploy"}
    # the test build hashes the source first, alone, before anything is installed into it
    tested = dependencies(test_build["steps"])
    assert test_build["steps"][0]["id"] == "digest" and test_build["steps"][0]["waitFor"] == ["-"]
    assert all("digest" in waits for step, waits in tested.items() if step != "digest")
    assert tested["test"] >= {"install", "lint", "typecheck"}


def test_tests_never_run_with_deploy_rights(
    build: dict[str, Any], test_build: dict[str, Any]
) -> None:
    """Lint, type-check and the tests run in the test build only, as aiexec-tester, whose only
    roles are its build logs and reading the build source; nothing of them runs in the deploy
    build, whose account holds the deploy rights."""
    from infra.deploy import Target, build_production
    from infra.settings import Settings

    ran = {c[-1] for s in test_build["steps"] for c in command_lines(s, test_build) if "make" in c}
    assert ran == {"install", "lint", "typecheck", "test"}
    deploy_commands = [c for s in build["steps"] for c in command_lines(s, build)]
    assert not any({"test", "lint", "typecheck"} & set(c) for c in deploy_commands)
    assert not any("pytest" in " ".join(c) for c in deploy_commands)
    tested = [c for s in test_build["steps"] for c in command_lines(s, test_build)]
    assert not any(c[0].endswith("aiexec") or "smoke" in " ".join(c) for c in tested)
    prod = build_production(Settings(), Target("acme-ai-prod", "europe-west1"))
    tester = f"serviceAccount:{prod.bootstrap.tester.email}"
    assert account_of(test_build) == account_of(build).replace("deployer", "tester")
    assert {(b.kind, b.role) for b in prod.bootstrap.bindings if b.member == tester} == {
        ("project", "roles/logging.logWriter"),
        ("bucket", "roles/storage.objectViewer"),
    }
    assert not any(b.member == tester for b in prod.bindings)  # no runtime grant either


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, flags=re.MULTILINE))


def check_command(argv: list[str]) -> None:
    """Fails unless `argv` names something the repository has."""
    program, *rest = argv
    if program == "bash":  # a script of the repository, wrapping a command
        script = REPO / rest[0]
        assert script.is_file(), rest[0]
        check_command(rest[1:])
    elif program == "make":
        assert set(rest) <= _make_targets(), rest
    elif program == ".venv/bin/aiexec":
        parsed = build_parser().parse_args(rest)  # a usage error would exit here
        assert parsed.command == rest[0]
    elif program == "python3":  # a standard-library script of the repository
        assert (REPO / rest[0]).is_file(), rest[0]
    elif program == ".venv/bin/python":
        assert rest[0] == "-m"
        module = REPO / Path(*rest[1].split("."))
        assert module.with_suffix(".py").is_file(), rest[1]
        source = module.with_suffix(".py").read_text()
        flags = {a.split("=")[0] for a in rest[2:] if a.startswith("--")}
        assert all(f'"{flag}"' in source for flag in flags), flags
    else:
        pytest.fail(f"unknown program {program!r} in cloudbuild.yaml")


def test_every_command_exists_in_the_repo(
    build: dict[str, Any], test_build: dict[str, Any]
) -> None:
    called = []
    for config in (build, test_build):
        for step in config["steps"]:
            for argv in command_lines(step, config):
                check_command(argv)
                called.append(argv)
    assert ["bash", "infra/cloudbuild-prepare.sh", "make", "test"] in called
    assert ["python3", "infra/cloudbuild_source.py", "digest", "--require-output"] in called
    verify = next(a for a in called if a[:3] == ["python3", "infra/cloudbuild_source.py", "verify"])
    assert "--project=acme-ai-prod" in verify and "--tested=" in verify  # empty by default
    # the deploy runs behind the wrapper that installs gcloud's alpha track (alert policies)
    deploy = next(a[2:] for a in called if a[2:4] == [".venv/bin/aiexec", "deploy"])
    assert ["bash", "infra/cloudbuild-prepare.sh", *deploy] in called
    assert deploy[deploy.index("--providers") + 1] == "openai,vertex"
    assert deploy[deploy.index("--region") + 1] == "europe-west1"
    # the steps the verify script expects are the test config's own
    assert [s["id"] for s in test_build["steps"]] == list(cloudbuild_source.TEST_STEPS)


def test_make_deploy_runs_the_test_build_then_the_deploy_build() -> None:
    recipe = (REPO / "Makefile").read_text().split("\ndeploy:", 1)[1]
    assert (
        "bash infra/cloudbuild-deploy.sh '$(PROJECT)' '$(REGION)' '$(PROVIDERS)' "
        "'$(REQUIRE_API_KEYS)'" in recipe
    )
    assert re.search(r"^REQUIRE_API_KEYS \?= true$", (REPO / "Makefile").read_text(), re.M)


def _deploy_env(build: dict[str, Any], **substitutions: str) -> dict[str, str]:
    """The deploy step's environment as Cloud Build sets it, with `substitutions` overriding
    the file's defaults (what `--substitutions=` does)."""
    overridden = {**build, "substitutions": {**build["substitutions"], **substitutions}}
    step = next(s for s in build["steps"] if s["id"] == "deploy")
    pairs = (substitute(item, overridden).split("=", 1) for item in step.get("env", []))
    return dict((name, value) for name, value in pairs)


def test_the_deploy_requires_api_keys_unless_the_substitution_turns_them_off(
    build: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.deploy import Target, build_production
    from infra.settings import Settings

    assert build["substitutions"]["_REQUIRE_API_KEYS"] == "true"
    for value, required in (("true", True), ("false", False)):
        env = _deploy_env(build) if value == "true" else _deploy_env(build, _REQUIRE_API_KEYS=value)
        assert env["AIEXEC_API_KEYS_REQUIRED"] == value
        for name in [n for n in os.environ if n.startswith("AIEXEC_")]:
            monkeypatch.delenv(name)
        for name, setting in env.items():
            monkeypatch.setenv(name, setting)
        settings = Settings()
        assert settings.api_keys_required is required
        prod = build_production(settings, Target("acme-ai-prod", "europe-west1"))
        ingest = prod.function("ingest")
        assert ingest.public is required  # ingest checks the keys itself, so it is public
        assert bool(ingest.secrets) is required  # ... with the pepper mounted
        generated = {secret.env for secret in prod.bootstrap.generated_secrets}
        assert ("AIEXEC_API_KEY_PEPPER" in generated) is required  # ... generated if missing


def account_of(config: dict[str, Any]) -> str:
    return str(config["serviceAccount"])


def test_each_build_names_its_account_logging_to_cloud_logging(
    build: dict[str, Any], test_build: dict[str, Any]
) -> None:
    """The build account is named in the config itself (Cloud Build expands $PROJECT_ID in it)
    and, the same value, by `make deploy`; a user-specified build account must log to Cloud
    Logging or a bucket of its own."""
    from infra.deploy import Target, build_production
    from infra.settings import Settings

    boot = build_production(Settings(), Target("$PROJECT_ID", "r")).bootstrap
    for config, account in ((build, boot.deployer), (test_build, boot.tester)):
        assert config["options"]["logging"] == "CLOUD_LOGGING_ONLY"
        assert account_of(config) == f"projects/$PROJECT_ID/serviceAccounts/{account.email}"
        assert substitute(account_of(config), config) == (
            "projects/acme-ai-prod/serviceAccounts/"
            f"{account.account_id}@acme-ai-prod.iam.gserviceaccount.com"
        )
    never = ("compute@developer.gserviceaccount.com", "cloudbuild.gserviceaccount.com")
    assert not any(n in account_of(c) for c in (build, test_build) for n in never)


def fake_gcloud(tmp_path: Path, fail_test_build: bool = False) -> tuple[dict[str, str], Path]:
    """A `gcloud` on PATH that records its arguments, one call per line, and answers
    `builds submit` with a build id (or fails the test build)."""
    log, bin_dir = tmp_path / "calls.log", tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "gcloud"
    fail = "exit 1" if fail_test_build else "echo b-test-42"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s\\x1f" "$@" >> {shlex.quote(str(log))}; echo >> {shlex.quote(str(log))}\n'
        'if [[ " $* " == *" --config=cloudbuild-test.yaml "* ]]; then ' + fail + "; fi\n"
    )
    script.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    return env, log


def calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.rstrip("\x1f").split("\x1f") for line in log.read_text().splitlines() if line]


def test_the_deploy_build_gets_the_id_of_the_test_build_that_succeeded(
    build: dict[str, Any], test_build: dict[str, Any], tmp_path: Path
) -> None:
    env, log = fake_gcloud(tmp_path)
    argv = ["bash", "infra/cloudbuild-deploy.sh", "acme-ai-prod", "europe-west1",
            "openai,vertex", "false"]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (tested, deployed) = calls(log)
    accounts = {
        config: substitute(account_of(c), c)
        for config, c in (("cloudbuild-test.yaml", test_build), ("cloudbuild.yaml", build))
    }
    assert tested[:2] == ["builds", "submit"] and "--config=cloudbuild-test.yaml" in tested
    assert f"--service-account={accounts['cloudbuild-test.yaml']}" in tested
    assert "--format=value(id)" in tested and "--suppress-logs" in tested
    assert deployed[:2] == ["builds", "submit"] and "--config=cloudbuild.yaml" in deployed
    assert f"--service-account={accounts['cloudbuild.yaml']}" in deployed
    assert (
        "--substitutions=^;^_TESTED_BUILD=b-test-42;_REGION=europe-west1;"
        "_PROVIDERS=openai,vertex;_REQUIRE_API_KEYS=false;_ALERT_EMAIL=;_ALERT_CHANNELS="
    ) in deployed
    assert all(call[-1] == "." and "--project=acme-ai-prod" in call for call in (tested, deployed))
    # a failing test build: no deploy build is ever submitted
    failing_env, failing_log = fake_gcloud(tmp_path / "failing", fail_test_build=True)
    failed = subprocess.run(argv, cwd=REPO, env=failing_env, capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert failed.returncode != 0
    assert [c[2] for c in calls(failing_log)] == ["--project=acme-ai-prod"]  # the test build only


def test_make_deploy_passes_where_alerts_go_on_to_the_deploy_step(
    build: dict[str, Any], tmp_path: Path
) -> None:
    env, log = fake_gcloud(tmp_path)
    channels = "projects/acme-ai-prod/notificationChannels/1,2"
    env |= {"AIEXEC_ALERT_EMAIL": "oncall@example.com", "AIEXEC_ALERT_CHANNELS": channels}
    argv = ["bash", "infra/cloudbuild-deploy.sh", "acme-ai-prod", "europe-west1", "openai", "true"]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (_, deployed) = calls(log)
    (flag,) = [a for a in deployed if a.startswith("--substitutions=^;^")]
    given = dict(pair.split("=", 1) for pair in flag.removeprefix("--substitutions=^;^").split(";"))
    assert (given["_ALERT_EMAIL"], given["_ALERT_CHANNELS"]) == ("oncall@example.com", channels)
    step_env = _deploy_env(build, **given)
    assert step_env["AIEXEC_ALERT_EMAIL"] == "oncall@example.com"
    assert step_env["AIEXEC_ALERT_CHANNELS"] == channels


def test_docs_never_send_anyone_to_the_default_compute_account() -> None:
    """No instruction grants roles to the Compute Engine default service account (every
    workload without its own account runs as it), and no function runs as it."""
    from infra.deploy import Target, build_production
    from infra.deploy.plan.functions import deploy_command
    from infra.settings import Settings

    for doc in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        text = doc.read_text()
        assert "compute@developer" not in text, doc
        assert not re.search(r"(?i)grant[^.\n]*default compute", text), doc
    prod = build_production(Settings(api_keys_required=True), Target("acme-ai-prod", "r"))
    for fn in prod.functions:
        assert f"--service-account={fn.service_account}" in deploy_command(fn, prod)
