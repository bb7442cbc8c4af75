"""The layout is the architecture (issue 14): `shared/` is the deployed runtime and nothing
else; tooling (`aiexec/`, `infra/`, `benchmarks/`) sits outside it and the runtime never
imports it; no module shadows the standard library."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OURS = ("shared", "infra", "aiexec", "functions", "benchmarks")
TOOLING = ("infra", "aiexec", "benchmarks")


def _module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _imported_files(path: Path) -> Iterator[Path]:
    """Our modules `path` imports, with every package on the way (its `__init__` runs too)."""
    for name in _imported_names(path):
        parts = name.split(".")
        if parts[0] not in OURS:
            continue
        for end in range(1, len(parts) + 1):
            found = _module_file(".".join(parts[:end]))
            if found is not None:
                yield found


def _reachable_from(entries: list[Path]) -> set[Path]:
    seen: set[Path] = set()
    stack = list(entries)
    while stack:
        path = stack.pop()
        if path not in seen:
            seen.add(path)
            stack.extend(_imported_files(path))
    return seen


def _runtime_modules() -> list[Path]:
    return sorted(p for p in (REPO / "shared").rglob("*.py") if "__pycache__" not in p.parts)


def test_the_entry_points_are_found() -> None:
    entries = sorted(REPO.glob("functions/*/main.py"))
    assert {p.parent.name for p in entries} >= {
        "ingest",
        "worker",
        "finalizer",
        "sweeper",
        "report",
    }


def test_every_runtime_module_is_used_by_a_deployed_function() -> None:
    reachable = _reachable_from(sorted(REPO.glob("functions/*/main.py")))
    unused = [str(p.relative_to(REPO)) for p in _runtime_modules() if p not in reachable]
    assert not unused, f"not imported by any functions/*/main.py; move to tooling: {unused}"


def test_the_runtime_never_imports_tooling() -> None:
    offenders = [
        f"{p.relative_to(REPO)} imports {name}"
        for p in _runtime_modules()
        for name in _imported_names(p)
        if name.split(".")[0] in TOOLING
    ]
    assert not offenders, offenders


def test_no_module_shadows_the_standard_library() -> None:
    shadowing = [
        str(p.relative_to(REPO))
        for package in OURS
        for p in (REPO / package).rglob("*.py")
        if p.stem in sys.stdlib_module_names
        or (p.name == "__init__.py" and p.parent.name in sys.stdlib_module_names)
    ]
    assert not shadowing, shadowing


def test_there_is_one_deploy_package() -> None:
    deploys = [
        str(p.relative_to(REPO))
        for package in OURS
        for p in (REPO / package).rglob("deploy")
        if p.is_dir() and "__pycache__" not in p.parts
    ]
    assert deploys == ["infra/deploy"], deploys
