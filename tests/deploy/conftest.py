"""Fixtures of the deployment tests: the production definition, a fake gcloud (and a project
bootstrapped on it), and function bundles installed into empty virtual environments (once per
session, shared between identical requirements)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra import bundles
from infra.deploy import Production, Target, build_production
from infra.deploy.apply import Applier
from infra.deploy.plan.bootstrap import bootstrap_steps
from infra.deploy.plan.deployment import build_plan
from infra.deploy.plan.steps import Step
from infra.settings import Settings

PROJECT, REGION, NUMBER = "acme-ai-prod", "europe-west1", "123456789012"
OPENAI_SECRET, PEPPER = "aiexec-openai-api-key", "aiexec-api-key-pepper"
CALLBACK_SECRET = "aiexec-callback-secret"


def production(**overrides: Any) -> Production:
    return build_production(Settings(**overrides), Target(PROJECT, REGION, NUMBER))


def plan(**overrides: Any) -> tuple[Production, list[Step]]:
    prod = production(**overrides)
    return prod, build_plan(prod)


@dataclass(frozen=True)
class InstalledBundle:
    name: str
    source: Path  # the bundle directory (main.py, shared/, requirements.txt)
    python: Path  # the interpreter of the venv its requirements were installed into

    @property
    def functions_framework(self) -> Path:
        return self.python.parent / "functions-framework"


def _requirements_key(text: str) -> str:
    """The pinned lines only: bundles with the same set share one environment."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def _install(requirements: Path, venv: Path) -> Path:
    """An empty venv plus exactly `requirements` (no dependency resolution: the pinned list
    must be complete on its own, which `pip check` then confirms)."""
    python = venv / "bin" / "python"
    try:
        uv = bundles.find_uv()
    except FileNotFoundError:
        uv = None
    if uv:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        install = [uv, "pip", "install", "--quiet", "--python", str(python), "--no-deps"]
        subprocess.run([*install, "-r", str(requirements)], check=True)
        subprocess.run([uv, "pip", "check", "--python", str(python)], check=True)
    else:  # pip from the local cache / the index: slower, same result
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps"]
        subprocess.run([*pip, "-r", str(requirements)], check=True)
        subprocess.run([str(python), "-m", "pip", "check"], check=True)
    return python


@pytest.fixture(scope="session")
def installed_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, InstalledBundle]:
    root = tmp_path_factory.mktemp("bundles")
    built = bundles.build_all(Settings(providers=["openai", "vertex"]), root / "src")
    envs: dict[str, Path] = {}
    installed = {}
    for name, source in built.items():
        key = _requirements_key((source / "requirements.txt").read_text())
        if key not in envs:
            envs[key] = _install(source / "requirements.txt", root / f"venv-{len(envs)}")
        installed[name] = InstalledBundle(name, source, envs[key])
    return installed


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """A child environment that cannot see the repository's packages or virtualenv."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    keep["PATH"] = os.pathsep.join(
        p for p in keep.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    return keep | extra


def gcloud_available() -> bool:
    return shutil.which("gcloud") is not None


class FakeGcloud:
    """Answers the gcloud commands of a deploy the way gcloud does, on an in-memory project.

    Records every argv (and the stdin of each); `fail` makes any command containing that text
    fail with a NOT_FOUND error. Service accounts "exist" once created; secrets are lists of
    (state, value) versions; the database is (type, location) or None; the project policy is
    a list of (role, member, condition expression or None); secret policies and buckets are
    kept per name; custom roles are their permission lists.
    """

    def __init__(self, fail: str | None = None) -> None:
        self.argvs: list[list[str]] = []
        self.inputs: list[tuple[list[str], str]] = []
        self.created: set[str] = set()
        self.enabled: set[str] = set()
        self.database: tuple[str, str] | None = None
        self.secrets: dict[str, list[tuple[str, str]]] = {}
        self.project_policy: list[tuple[str, str, str | None]] = []
        self.titles: dict[str, str] = {}  # condition expression → title
        self.secret_policies: dict[str, set[tuple[str, str]]] = {}
        self.buckets: set[str] = set()
        self.roles: dict[str, list[str]] = {}
        self.fail = fail
        self.monitoring: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, name) → config

    def add_secret(self, name: str, value: str = "v", state: str = "ENABLED") -> None:
        self.secrets.setdefault(name, []).append((state, value))

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.argvs.append(argv)
        if kwargs.get("input") is not None:
            self.inputs.append((argv, kwargs["input"]))
        code, out, err = self._answer([a for a in argv if not a.startswith("--project=")], kwargs)
        if self.fail and self.fail in " ".join(argv):
            code, err = 1, "ERROR: NOT_FOUND: Secret [projects/p/secrets/x] not found"
        return subprocess.CompletedProcess(argv, code, out, err)

    def _answer(self, argv: list[str], kwargs: dict[str, Any]) -> tuple[int, str, str]:
        words = argv[1:]
        flags = {a.split("=", 1)[0]: a.split("=", 1)[-1] for a in words if a.startswith("--")}
        iam = self._iam(words, flags) or self._monitoring(words, flags)
        if iam is not None:
            return iam
        if words[:3] == ["iam", "service-accounts", "describe"]:
            return (0, "", "") if words[3].split("@")[0] in self.created else (1, "", "NOT_FOUND")
        if words[:3] == ["iam", "service-accounts", "create"]:
            self.created.add(words[3])
        elif words[:3] == ["run", "services", "get-iam-policy"]:
            return 0, '{"bindings": []}', ""
        elif words[:2] == ["projects", "describe"]:
            return 0, NUMBER + "\n", ""
        elif words[:2] == ["services", "list"]:
            return 0, "".join(f"{s}\n" for s in sorted(self.enabled)), ""
        elif words[:2] == ["services", "enable"]:
            self.enabled.update(w for w in words[2:] if not w.startswith("--"))
        elif words[:3] == ["firestore", "databases", "describe"]:
            if self.database is None:
                return 1, "", "ERROR: (gcloud.firestore.databases.describe) NOT_FOUND: no db"
            return 0, "\t".join(self.database) + "\n", ""
        elif words[:3] == ["firestore", "databases", "create"]:
            self.database = (flags["--type"].upper().replace("-", "_"), flags["--location"])
        elif words[:3] == ["secrets", "versions", "describe"]:
            return self._latest(flags["--secret"])
        elif words[:2] == ["secrets", "describe"]:
            return (0, words[2], "") if words[2] in self.secrets else (1, "", "NOT_FOUND")
        elif words[:2] == ["secrets", "create"]:
            self.secrets[words[2]] = [("ENABLED", kwargs["input"])]
        elif words[:3] == ["secrets", "versions", "add"]:
            self.secrets[words[3]].append(("ENABLED", kwargs["input"]))
        return 0, "", ""

    def _monitoring(self, words: list[str], flags: dict[str, str]) -> tuple[int, str, str] | None:
        """Log metrics, alert policies, channels, dashboards: kept by name with the config
        their file held; None: not one of those."""
        words = words[1:] if words[0] == "alpha" else words
        kinds = {
            ("logging", "metrics"): "metric",
            ("monitoring", "policies"): "policy",
            ("monitoring", "dashboards"): "dashboard",
            ("monitoring", "channels"): "channel",
        }
        kind = kinds.get((words[0], words[1])) if len(words) > 2 else None
        if kind is None:
            return None
        verb, file = words[2], flags.get("--config-from-file") or flags.get("--policy-from-file")
        config = json.loads(Path(file).read_text()) if file else {}
        if kind == "metric" and verb == "describe":
            held = self.monitoring.get((kind, words[3]))
            return (0, held["description"] + "\n", "") if held else (1, "", "NOT_FOUND")
        if kind == "metric":
            self.monitoring[(kind, words[3])] = config
        elif kind == "channel" and verb == "create":
            email = flags["--channel-labels"].split("=", 1)[1]
            self.monitoring[(kind, email)] = {"name": f"projects/p/notificationChannels/{email}"}
        elif verb == "list":
            wanted = flags["--filter"].rsplit("=", 1)[1].strip('"')
            held = self.monitoring.get((kind, wanted))
            labels = (held or {}).get("userLabels") or (held or {}).get("labels") or {}
            return 0, (f"{held.get('name', wanted)}\t{labels}\n" if held else ""), ""
        elif verb in ("create", "update"):
            self.monitoring[(kind, config["displayName"])] = config
        return 0, "", ""

    def _iam(self, words: list[str], flags: dict[str, str]) -> tuple[int, str, str] | None:
        """Project and secret IAM policies, custom roles, buckets; None: not one of those."""
        if words[:2] == ["projects", "get-iam-policy"]:
            grouped: dict[tuple[str, str | None], list[str]] = {}
            for role, who, expression in self.project_policy:
                grouped.setdefault((role, expression), []).append(who)
            bindings = []
            for (role, expression), members in grouped.items():
                entry: dict[str, Any] = {"role": role, "members": members}
                if expression is not None:
                    entry["condition"] = {"expression": expression,
                                          "title": self.titles[expression]}  # fmt: skip
                bindings.append(entry)
            return 0, json.dumps({"bindings": bindings, "version": 3}), ""
        if words[:2] in (["projects", "add-iam-policy-binding"],
                         ["projects", "remove-iam-policy-binding"]):  # fmt: skip
            grant = (flags["--role"], flags["--member"])
            if "--all" in flags:
                self.project_policy = [g for g in self.project_policy if g[:2] != grant]
                return 0, "", ""
            expression, title = parse_condition(flags["--condition"])
            held = (*grant, expression)
            if words[1].startswith("add"):
                if expression is not None:
                    self.titles[expression] = title or ""
                if held not in self.project_policy:
                    self.project_policy.append(held)
            elif held in self.project_policy:
                self.project_policy.remove(held)
            else:
                return (
                    1,
                    "",
                    "ERROR: Policy binding with the specified principal, role, and condition "
                    "not found!",
                )
            return 0, "", ""
        if words[:2] == ["secrets", "get-iam-policy"]:
            readers = self.secret_policies.get(words[2], set())
            bindings = [{"role": r, "members": [m]} for r, m in sorted(readers)]
            return 0, json.dumps({"bindings": bindings}), ""
        if words[:2] == ["secrets", "add-iam-policy-binding"]:
            self.secret_policies.setdefault(words[2], set()).add(
                (flags["--role"], flags["--member"])
            )
            return 0, "", ""
        if words[:3] == ["storage", "buckets", "describe"]:
            return (
                (0, words[3], "") if words[3] in self.buckets else (1, "", "ERROR: 404 NOT_FOUND")
            )
        if words[:3] == ["storage", "buckets", "create"]:
            self.buckets.add(words[3])
            return 0, "", ""
        if words[:3] == ["iam", "roles", "describe"]:
            if words[3] not in self.roles:
                return 1, "", "ERROR: NOT_FOUND: The role named projects/p/roles/x was not found."
            return 0, json.dumps({"includedPermissions": self.roles[words[3]]}), ""
        if words[:3] in (["iam", "roles", "create"], ["iam", "roles", "update"]):
            self.roles[words[3]] = flags["--permissions"].split(",")
            return 0, "", ""
        return None

    def _latest(self, name: str) -> tuple[int, str, str]:
        versions = self.secrets.get(name)
        if not versions:
            return 1, "", f"ERROR: NOT_FOUND: Secret Version [{name}/versions/latest] not found"
        state, _ = versions[-1]
        path = f"projects/{NUMBER}/secrets/{name}/versions/{len(versions)}"
        return 0, f"{path}\t{state}\n", ""

    def ran(self, *words: str) -> list[list[str]]:
        """The argvs that start with `gcloud *words`."""
        return [a for a in self.argvs if a[1 : 1 + len(words)] == list(words)]


def parse_condition(flag: str) -> tuple[str | None, str | None]:
    """(expression, title) of a gcloud `--condition` value: `None`, or `KEY=VALUE` pairs with
    gcloud's `^D^` alternate delimiter."""
    if flag == "None":
        return None, None
    delimiter = ","
    if flag.startswith("^"):
        delimiter, flag = flag[1], flag[3:]
    pairs = dict(part.split("=", 1) for part in flag.split(delimiter))
    return pairs["expression"], pairs.get("title")


def bootstrap_applier(fake: FakeGcloud, **overrides: object) -> Applier:
    return Applier(production(**overrides), run=fake, echo=lambda _: None)


def bootstrapped(**overrides: object) -> FakeGcloud:
    """A project a project owner has bootstrapped (the OpenAI key stored first)."""
    fake = FakeGcloud()
    fake.add_secret(OPENAI_SECRET)
    applier = bootstrap_applier(fake, **overrides)
    applier.apply(bootstrap_steps(applier.prod))
    return fake
