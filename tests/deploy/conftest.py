"""Fixtures of the deployment tests: the production definition, and function bundles installed
into empty virtual environments (once per session, shared between identical requirements)."""

from __future__ import annotations

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
from shared.deploy.plan import Step, build_plan
from shared.settings import Settings

PROJECT, REGION, NUMBER = "acme-ai-prod", "europe-west1", "123456789012"


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
    (state, value) versions; the database is (type, location) or None.
    """

    def __init__(self, fail: str | None = None) -> None:
        self.argvs: list[list[str]] = []
        self.inputs: list[tuple[list[str], str]] = []
        self.created: set[str] = set()
        self.enabled: set[str] = set()
        self.database: tuple[str, str] | None = None
        self.secrets: dict[str, list[tuple[str, str]]] = {}
        self.fail = fail

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
