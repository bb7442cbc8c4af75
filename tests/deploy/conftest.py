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
