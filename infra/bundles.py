"""Per-function source bundles: what `gcloud functions deploy --source` uploads.

A bundle is a directory holding the function's `main.py` at its root, the project's `shared/`
package and a `requirements.txt` with exactly that function's dependencies, pinned from the
lock file: `uv export --frozen` gives every locked requirement with its environment markers
and the SHA-256 hashes of its locked distributions, and only the transitive closure (read from
`uv.lock`) of the function's own top-level dependencies is kept. So ingest never installs an AI
SDK, a worker only its provider's SDK, and only the report function pulls in matplotlib.

Every kept requirement carries its `--hash` lines, so the pip of the function's Cloud Build
installs in hash-checking mode: a requirements file in which any requirement has a hash makes
pip require a pinned version and a matching hash for every one, and refuse a download whose
hash differs ("Hash-checking mode", https://pip.pypa.io/en/stable/topics/secure-installs/ ,
read 2026-11-29). A requirement without a hash is therefore an error here, not a warning.

The per-function dependency sets below are the one place this is decided.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.settings import Settings
from shared.providers.registry import SPECS

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = Path("build") / "functions"  # relative to the repository root

# Every function: the functions-framework server, Firestore, Pub/Sub, settings, jsonschema
# (shared/schemas.py checks a task's `response_schema` with it, and every function reads tasks),
# and tracing: the OpenTelemetry SDK and the Cloud Trace exporter (shared/tracing.py; the OTLP
# exporter only the local stack uses stays out).
BASE_REQUIREMENTS = (
    "functions-framework",
    "google-cloud-firestore",
    "google-cloud-pubsub",
    "jsonschema",
    "pydantic",
    "pydantic-settings",
    "opentelemetry-sdk",
    "opentelemetry-exporter-gcp-trace",
)
# A worker loads only its provider's SDK (the registry imports adapters lazily); each provider's
# spec (shared/providers/<name>/spec.py) names the distributions.
PROVIDER_REQUIREMENTS: Mapping[str, tuple[str, ...]] = {
    name: spec.requirements for name, spec in SPECS.items()
}
REPORT_REQUIREMENTS = ("matplotlib", "httpx")  # the chart, the webhook
INGEST_REQUIREMENTS = ("google-cloud-storage",)  # attachments: a gs:// object's size, checked
# The callbacks function publishes nothing (no Pub/Sub client) and POSTs with the standard
# library's http.client, pinned to the checked address (shared/callbacks/delivery.py).
CALLBACKS_REQUIREMENTS = tuple(r for r in BASE_REQUIREMENTS if r != "google-cloud-pubsub")


@dataclass(frozen=True)
class Bundle:
    name: str  # directory under build/functions; also what functions deploy from it
    entry: str  # the function's main.py, relative to the repository root
    requirements: tuple[str, ...]  # top-level distributions (closure added from the lock)


def worker_requirements(provider: str) -> tuple[str, ...]:
    """A provider without an SDK entry gets every SDK: its adapter may use either."""
    if provider in PROVIDER_REQUIREMENTS:
        return PROVIDER_REQUIREMENTS[provider]
    return tuple(dict.fromkeys(r for reqs in PROVIDER_REQUIREMENTS.values() for r in reqs))


def batch_requirements(settings: Settings) -> tuple[str, ...]:
    """The batch functions call every chained provider's batch API that has one (its SDK)."""
    batching = [p for p in settings.providers if p in SPECS and SPECS[p].batch is not None]
    return tuple(dict.fromkeys(r for p in batching for r in worker_requirements(p)))


def bundles(settings: Settings) -> list[Bundle]:
    """One bundle per distinct code base + dependency set (ingest serves two functions)."""
    workers = [
        Bundle(
            f"worker-{p}", "functions/worker/main.py", BASE_REQUIREMENTS + worker_requirements(p)
        )
        for p in settings.providers
    ]
    return [
        Bundle("ingest", "functions/ingest/main.py", BASE_REQUIREMENTS + INGEST_REQUIREMENTS),
        *workers,
        Bundle("finalizer", "functions/finalizer/main.py", BASE_REQUIREMENTS),
        Bundle("sweeper", "functions/sweeper/main.py", BASE_REQUIREMENTS),
        Bundle("report", "functions/report/main.py", BASE_REQUIREMENTS + REPORT_REQUIREMENTS),
        Bundle("callbacks", "functions/callbacks/main.py", CALLBACKS_REQUIREMENTS),
        *(
            Bundle(
                name, f"functions/{name}/main.py", BASE_REQUIREMENTS + batch_requirements(settings)
            )
            for name in ("batcher", "poller")
        ),
    ]


# --- the lock file ----------------------------------------------------------------------


def normalize(name: str) -> str:
    """PEP 503 name normalisation: `Pydantic_Settings` → `pydantic-settings`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def load_lock(repo_root: Path = REPO_ROOT) -> dict[str, Any]:
    with (repo_root / "uv.lock").open("rb") as handle:
        return tomllib.load(handle)


def closure(lock: Mapping[str, Any], roots: Iterable[str]) -> set[str]:
    """Normalised names of `roots` and everything they need, extras included.

    Markers are ignored here (a superset is harmless): each exported line keeps its own marker,
    so pip still skips what the target interpreter does not need.
    """
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        packages.setdefault(normalize(package["name"]), []).append(package)
    project = _project_dependencies(lock)
    missing = sorted(normalize(r) for r in roots if normalize(r) not in project)
    if missing:
        raise ValueError(f"not a dependency of the project in uv.lock: {', '.join(missing)}")
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(normalize(r), ()) for r in roots]
    while todo:
        name, extras = todo.pop()
        first = name not in seen
        seen.add(name)
        for package in packages.get(name, []):
            deps = list(package.get("dependencies", [])) if first else []
            for extra in extras:
                deps += package.get("optional-dependencies", {}).get(extra, [])
            todo += [(normalize(d["name"]), tuple(d.get("extra", ()))) for d in deps]
    return seen


def _project_dependencies(lock: Mapping[str, Any]) -> set[str]:
    """The names the project itself depends on (its `[project] dependencies`)."""
    for package in lock["package"]:
        if package.get("source", {}).get("editable") == "." or package.get("source", {}).get(
            "virtual"
        ):
            return {normalize(d["name"]) for d in package.get("dependencies", [])}
    raise ValueError("uv.lock has no entry for the project itself")


def find_uv(repo_root: Path = REPO_ROOT) -> str:
    """The pinned uv `make install` puts in .tools/, else one on PATH."""
    pinned = repo_root / ".tools" / "bin" / "uv"
    found = str(pinned) if pinned.is_file() else shutil.which("uv")
    if not found:
        raise FileNotFoundError("uv not found: run `make install` (it installs .tools/bin/uv)")
    return found


def uv_export(repo_root: Path = REPO_ROOT) -> str:
    """Every locked runtime requirement, pinned, with markers and hashes (no network:
    `--frozen`; `uv export` writes the hashes unless told `--no-hashes`)."""
    argv = [find_uv(repo_root), "export", "--frozen", "--no-dev"]
    argv += ["--no-emit-project", "--no-header", "--no-annotate"]
    result = subprocess.run(argv, cwd=repo_root, check=True, capture_output=True, text=True)
    return result.stdout


_REQUIREMENT_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
HASH_OPTION = "--hash=sha256:"


def requirement_entries(export: str) -> list[list[str]]:
    """`export` as requirements: each a first line (`name==version ; marker \\`) and its
    indented continuation lines (`--hash=…`); comments and blank lines dropped."""
    entries: list[list[str]] = []
    for line in export.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            if not entries:
                raise ValueError(f"a continuation line before any requirement: {line!r}")
            entries[-1].append(line.rstrip())
        else:
            entries.append([line.rstrip()])
    return entries


def requirements_text(bundle: Bundle, lock: Mapping[str, Any], export: str) -> str:
    """`export` (uv export's output) reduced to the closure of the bundle's requirements, each
    with its hashes."""
    keep = closure(lock, bundle.requirements)
    lines = [
        f"# {bundle.name}: generated by infra/bundles.py from uv.lock; do not edit.",
        f"# Top-level: {', '.join(bundle.requirements)}",
        "# Hashes from uv.lock: pip installs in hash-checking mode.",
    ]
    for entry in requirement_entries(export):
        match = _REQUIREMENT_NAME.match(entry[0])
        if not match or normalize(match.group(1)) not in keep:
            continue
        if not any(HASH_OPTION in line for line in entry):
            raise ValueError(f"{match.group(1)}: no hash in the export (uv.lock)")
        lines.extend(entry)
    return "\n".join(lines) + "\n"


def build_bundle(
    bundle: Bundle,
    out_root: Path,
    lock: Mapping[str, Any],
    export: str,
    repo_root: Path = REPO_ROOT,
) -> Path:
    """Write the bundle directory under `out_root` (replacing an older build) and return it."""
    target = out_root / bundle.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(repo_root / bundle.entry, target / "main.py")
    shutil.copytree(
        repo_root / "shared",
        target / "shared",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (target / "requirements.txt").write_text(requirements_text(bundle, lock, export))
    # Cloud Build uploads only the bundle; local caches would just slow the upload.
    (target / ".gcloudignore").write_text("__pycache__/\n*.pyc\n")
    return target


def build_all(
    settings: Settings, out_root: Path | None = None, repo_root: Path = REPO_ROOT
) -> dict[str, Path]:
    """Build every bundle of `settings`; returns bundle name → directory."""
    root = out_root if out_root is not None else repo_root / BUILD_DIR
    lock, export = load_lock(repo_root), uv_export(repo_root)
    return {b.name: build_bundle(b, root, lock, export, repo_root) for b in bundles(settings)}
