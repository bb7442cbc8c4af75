"""Before starting anything: are gcloud, Java and the emulator components installed?"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

from infra.localstack.errors import StackError

MIN_JAVA = 11
INSTALL_APT = (
    "sudo apt-get install google-cloud-cli google-cloud-cli-pubsub-emulator "
    "google-cloud-cli-firestore-emulator openjdk-17-jre-headless"
)
INSTALL_GCLOUD = "gcloud components install beta pubsub-emulator cloud-firestore-emulator"
# (component directory under <sdk>/platform, what it is)
EMULATOR_COMPONENTS = (
    ("pubsub-emulator", "Pub/Sub emulator"),
    ("cloud-firestore-emulator", "Firestore emulator"),
)


def java_major(version_output: str) -> int | None:
    """The major version in `java -version` output (`1.8.0_x` → 8, `17.0.15` → 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def _check_java() -> str | None:
    java = shutil.which("java")
    if java is None:
        return f"`java` (Java {MIN_JAVA} or newer, the emulators need it) is not on PATH"
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{java} -version` failed ({exc})"
    major = java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        found = (result.stderr or result.stdout).strip().splitlines()[:1]
        return f"Java {MIN_JAVA}+ is needed, found {found or 'an unknown version'} at {java}"
    return None


def sdk_root(gcloud: str) -> Path | None:
    """The Cloud SDK root of the `gcloud` executable (where `platform/` lives)."""
    candidate = Path(gcloud).resolve().parent.parent
    if (candidate / "platform").is_dir():
        return candidate
    try:
        result = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    root = result.stdout.strip()
    return Path(root) if result.returncode == 0 and root else None


def _check_gcloud() -> list[str]:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return ["`gcloud` (Google Cloud CLI) is not on PATH"]
    root = sdk_root(gcloud)
    if root is None:
        return [f"cannot locate the Cloud SDK of {gcloud}"]
    return [
        f"the {label} is not installed in {root} (no platform/{component})"
        for component, label in EMULATOR_COMPONENTS
        if not (root / "platform" / component).is_dir()
    ]


def functions_framework() -> str:
    """The `functions-framework` executable of this Python environment."""
    beside = Path(sys.executable).parent / "functions-framework"
    if beside.exists():
        return str(beside)
    found = shutil.which("functions-framework")
    if found is None:
        raise StackError(
            "`functions-framework` is not installed in this Python environment "
            f"({sys.executable}); run `uv sync`"
        )
    return found


def _check_storage_emulator() -> str | None:
    """The Cloud Storage emulator is a Python package of the dev dependencies (no gcloud one)."""
    if importlib.util.find_spec("gcp_storage_emulator") is None:
        return (
            "the Cloud Storage emulator (`gcp-storage-emulator`) is not installed in "
            f"{sys.executable}'s environment; run `uv sync`"
        )
    return None


def check_tools() -> None:
    """Raise a `StackError` listing every missing tool, each with how to install it."""
    problems = _check_gcloud()
    storage_problem = _check_storage_emulator()
    if storage_problem is not None:
        problems.append(storage_problem)
    java_problem = _check_java()
    if java_problem is not None:
        problems.append(java_problem)
    if problems:
        lines = "\n  - ".join(problems)
        raise StackError(
            f"the local stack needs tools that are missing:\n  - {lines}\n"
            f"Install them with `{INSTALL_APT}` (Debian/Ubuntu) or `{INSTALL_GCLOUD}`."
        )
