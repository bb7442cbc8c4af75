"""Every gcloud command the deploy prints or runs is one the installed gcloud knows, flags
included (checked against each command's `--help`)."""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.deploy.apply import Applier
from infra.deploy.bootstrap import INVOKER_ADMIN, REVOKED_DEPLOYER_ROLES
from infra.deploy.plan import full_plan
from infra.deploy.plan.bootstrap import bootstrap_steps
from infra.deploy.plan.monitoring import monitoring_steps
from infra.deploy.plan.steps import Call, Command
from infra.deploy.preflight import PreflightContext, refusals
from tests.deploy.conftest import OPENAI_SECRET, FakeGcloud, plan, production

# Each test asks the installed gcloud for the --help of every command (~1.5 s each).
pytestmark = [pytest.mark.usefixtures("default_settings_env"), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@functools.cache  # both tests ask for many of the same commands: each --help runs once
def _help_flags(command: tuple[str, ...]) -> frozenset[str]:
    text = subprocess.run(
        ["gcloud", *command, "--help"], capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
             "PAGER": "cat", "HOME": "/tmp"},
    ).stdout  # fmt: skip
    return frozenset(re.findall(r"--[a-z][a-z0-9-]*", re.sub(r"\x1b\[[0-9;]*m", "", text)))


def command_of(argv: tuple[str, ...]) -> tuple[str, ...]:
    """`gcloud [TRACK] GROUP [SUBGROUP] COMMAND`: the words before the first positional
    argument."""
    if argv[1] == "alpha":  # `gcloud alpha monitoring policies create`
        return argv[1:5]
    groups = ("iam", "run", "firestore", "storage", "logging", "monitoring")
    three = argv[1] in groups or argv[1:3] == ("secrets", "versions")
    return argv[1:4] if three else argv[1:3]


def flags_by_command(argvs: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], set[str]]:
    by_command: dict[tuple[str, ...], set[str]] = {}
    for argv in argvs:
        flags = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
        by_command.setdefault(command_of(argv), set()).update(flags)
    return by_command


def assert_gcloud_knows(by_command: dict[tuple[str, ...], set[str]]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:  # gcloud takes ~1.5 s per --help
        helps = dict(zip(by_command, pool.map(_help_flags, by_command), strict=True))
    for command, flags in by_command.items():
        assert flags <= helps[command], (shlex.join(command), flags - helps[command])


def test_every_gcloud_command_and_flag_exists() -> None:
    assert shutil.which("gcloud"), "gcloud is not installed (`make prereqs`)"
    prod, _ = plan(api_keys_required=True)
    steps = full_plan(prod)  # the bootstrap too, with the commands its checks amount to
    argvs = [argv for s in steps if isinstance(s.action, Call) for argv in s.action.shown]
    for step in steps:
        if isinstance(step.action, Command):
            argvs.append(step.action.argv)
            argvs += [step.action.unless] if step.action.unless else []
            argvs += [step.action.only_if[0]] if step.action.only_if else []
    by_command = flags_by_command(argvs)
    assert len(by_command) >= 8, sorted(by_command)
    assert_gcloud_knows(by_command)


def test_every_gcloud_command_run_behind_a_call_exists(tmp_path: Path) -> None:
    """The commands the bootstrap, the deploy's checks and its project grants run (reads,
    revocations, role updates: not all of them are printed by the dry run), and those of
    `make deploy` and the deploy build's verify step, are ones gcloud knows, flags included."""
    prod = production(api_keys_required=True)
    fake = FakeGcloud()
    fake.add_secret(OPENAI_SECRET)
    refusals(PreflightContext(prod, online=True, run=fake))  # every check, nothing there yet
    deployer = f"serviceAccount:{prod.bootstrap.deployer.email}"
    for role in (*REVOKED_DEPLOYER_ROLES, "roles/resourcemanager.projectIamAdmin"):
        fake.project_policy.append((role, deployer, None))  # an older bootstrap's grants
    fake.roles[INVOKER_ADMIN.role_id] = ["run.services.get"]  # a drifted custom role
    Applier(prod, run=fake, echo=lambda _: None).apply(bootstrap_steps(prod))
    refusals(PreflightContext(prod, online=True, run=fake))
    # Cloud Monitoring: everything created, then everything drifted and updated
    alerting = production(api_keys_required=True, alert_email="oncall@example.com")
    Applier(alerting, run=fake, echo=lambda _: None).apply(monitoring_steps(alerting))
    for config in fake.monitoring.values():
        config.update(description="edited by hand", userLabels={}, labels={})
    Applier(alerting, run=fake, echo=lambda _: None).apply(monitoring_steps(alerting))
    argvs = [tuple(a) for a in fake.argvs]
    argvs += [("gcloud", "builds", "describe", "b-1", "--project=p", "--format=json")]
    script = (REPO / "infra" / "cloudbuild-deploy.sh").read_text()
    submit_flags = set(re.findall(r"(--[a-z-]+)=", script)) | {"--suppress-logs"}
    argvs += [("gcloud", "builds", "submit", *sorted(submit_flags))]
    by_command = flags_by_command(argvs)
    for needed in (("projects", "get-iam-policy"), ("projects", "remove-iam-policy-binding"),
                   ("iam", "roles", "update"), ("secrets", "get-iam-policy"),
                   ("storage", "buckets", "describe"), ("builds", "submit"),
                   ("logging", "metrics", "update"), ("alpha", "monitoring", "policies", "update"),
                   ("monitoring", "dashboards", "update"),
                   ("alpha", "monitoring", "channels", "list")):  # fmt: skip
        assert needed in by_command, needed
    assert_gcloud_knows(by_command)
