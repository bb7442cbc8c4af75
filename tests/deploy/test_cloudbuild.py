"""`cloudbuild.yaml` parses, runs its steps in a safe order, and calls only what exists."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
# Values Cloud Build substitutes for its built-in variables.
BUILT_IN = {"PROJECT_ID": "acme-ai-prod", "BUILD_ID": "b-1", "SHORT_SHA": "abc1234"}


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
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


def test_parses_with_the_substitutions_it_promises(build: dict[str, Any]) -> None:
    assert {"_REGION", "_PROVIDERS"} <= set(build["substitutions"])
    ids = [step["id"] for step in build["steps"]]
    assert len(ids) == len(set(ids))
    assert ids == ["install", "lint", "typecheck", "test", "deploy", "smoke"]
    for step in build["steps"]:
        image = substitute(step["name"], build)
        assert image == "gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators"


def test_deploy_never_runs_before_every_check_passed(build: dict[str, Any]) -> None:
    after = dependencies(build["steps"])
    assert after["test"] >= {"install", "lint", "typecheck"}
    assert after["deploy"] >= {"install", "lint", "typecheck", "test"}
    assert after["smoke"] >= {"deploy", "test"}
    for check in ("install", "lint", "typecheck", "test"):
        assert "deploy" not in after[check] and "smoke" not in after[check]


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
    elif program == ".venv/bin/python":
        assert rest[0] == "-m"
        module = REPO / Path(*rest[1].split("."))
        assert module.with_suffix(".py").is_file(), rest[1]
        source = module.with_suffix(".py").read_text()
        flags = {a.split("=")[0] for a in rest[2:] if a.startswith("--")}
        assert all(f'"{flag}"' in source for flag in flags), flags
    else:
        pytest.fail(f"unknown program {program!r} in cloudbuild.yaml")


def test_every_command_exists_in_the_repo(build: dict[str, Any]) -> None:
    called = []
    for step in build["steps"]:
        for argv in command_lines(step, build):
            check_command(argv)
            called.append(argv)
    assert ["bash", "infra/cloudbuild-prepare.sh", "make", "test"] in called
    deploy = next(a for a in called if a[:2] == [".venv/bin/aiexec", "deploy"])
    assert deploy[deploy.index("--providers") + 1] == "openai,vertex"
    assert deploy[deploy.index("--region") + 1] == "europe-west1"


def test_make_deploy_submits_this_build() -> None:
    text = (REPO / "Makefile").read_text()
    recipe = text.split("\ndeploy:", 1)[1]
    assert "gcloud builds submit" in recipe
    assert "--config=cloudbuild.yaml" in recipe
    assert "_REGION=$(REGION)" in recipe and "_PROVIDERS=$(PROVIDERS)" in recipe


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
    from shared.settings import Settings

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
        assert bool(prod.bootstrap.generated_secrets) is required  # ... generated if missing


def test_the_build_runs_as_the_deployer_account_logging_to_cloud_logging(
    build: dict[str, Any],
) -> None:
    from infra.deploy import Target, build_production
    from shared.settings import Settings

    # A user-specified build account must log to Cloud Logging or its own bucket.
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    recipe = (REPO / "Makefile").read_text().split("\ndeploy:", 1)[1]
    deployer = build_production(Settings(), Target("$(PROJECT)", "r")).bootstrap.deployer
    assert f"--service-account=projects/$(PROJECT)/serviceAccounts/{deployer.email}" in recipe
    assert "_REQUIRE_API_KEYS=$(REQUIRE_API_KEYS)" in recipe
    assert re.search(r"^REQUIRE_API_KEYS \?= true$", (REPO / "Makefile").read_text(), re.M)
