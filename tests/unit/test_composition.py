"""One composition module per function (issue 14): each function's entry point reaches only what
that function uses. Measured on the static import graph (tests/unit/test_layout.py's walker),
so a lazy import inside a function counts too; what a function *loads* (module-level imports
only: a provider's adapter is imported lazily, when a worker creates it) is checked apart."""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.unit.test_layout import OURS, REPO, _module_file, _reachable_from

FUNCTIONS = ("ingest", "worker", "finalizer", "sweeper", "report", "callbacks")
# Ingest's doors and defences: keys, rate limits, budgets, HTTP routes, waits, request checks.
# (shared/budget_math.py is not among them: its money units are everyone's.)
INGEST_ONLY = (
    "shared/auth.py",
    "shared/budget.py",
    "shared/budget_shards.py",
    "shared/budget_settlement.py",
    "shared/ratelimit*.py",
    "shared/http_api.py",
    "shared/openapi.py",
    "shared/ingest.py",
    "shared/request_guard.py",
    "shared/waits.py",
    "shared/model_policy.py",
    "shared/firestore/keys.py",
    "shared/firestore/budget*.py",
    "shared/firestore/ratelimit*.py",
)
# What calls a provider: the worker, the adapters (and their SDKs), the breaker. (The registry
# of specs is not among them: the deploy section's defaults read it; it loads no adapter.)
PROVIDER_CALLING = (
    "shared/worker.py",
    "shared/routing.py",
    "shared/circuit.py",
    "shared/providers/*/adapter.py",
)


def _module_level_imports(path: Path) -> set[Path]:
    """Our modules `path` imports when it is loaded (not inside functions), packages included."""
    found: set[Path] = set()
    for node in ast.parse(path.read_text()).body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for name in names:
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                module = _module_file(".".join(parts[:end]))
                if module is not None and parts[0] in OURS:
                    found.add(module)
    return found


def _loaded(function: str) -> list[str]:
    seen: set[Path] = set()
    stack = [REPO / "functions" / function / "main.py"]
    while stack:
        path = stack.pop()
        if path not in seen:
            seen.add(path)
            stack.extend(_module_level_imports(path))
    return sorted(str(p.relative_to(REPO)) for p in seen if "shared" in p.parts)


def _reached(function: str) -> list[str]:
    entry = REPO / "functions" / function / "main.py"
    return sorted(str(p.relative_to(REPO)) for p in _reachable_from([entry]) if "shared" in p.parts)


def _matching(modules: list[str], patterns: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(fnmatch(m, pattern) for pattern in patterns)]


def _lines(modules: list[str]) -> int:
    return sum(len((REPO / m).read_text().splitlines()) for m in modules)


def test_each_function_reaches_only_its_own_composition_module() -> None:
    for function in FUNCTIONS:
        composition = _matching(_reached(function), ("shared/compose/*.py",))
        others = [m for m in composition if Path(m).stem not in (function, "pubsub", "__init__")]
        assert not others, f"{function} reaches other functions' wiring: {others}"


def test_the_worker_does_not_reach_ingest_defences() -> None:
    assert not _matching(_reached("worker"), INGEST_ONLY)


@pytest.mark.parametrize("function", ["finalizer", "sweeper", "report", "callbacks"])
def test_functions_that_call_no_provider_reach_no_provider_code(function: str) -> None:
    assert not _matching(_loaded(function), PROVIDER_CALLING)
    assert not _matching(_reached(function), INGEST_ONLY)


def test_module_counts_per_function() -> None:
    """Prints each function's reach (`pytest -s`); a function that calls no provider reaches
    less than the worker, and the worker less than ingest (which also names providers' models)."""
    counts = {function: _reached(function) for function in FUNCTIONS}
    for function, modules in counts.items():
        print(f"{function}: {len(modules)} shared modules, {_lines(modules)} lines")
    assert len(counts["worker"]) < len(counts["ingest"])
    assert len(counts["finalizer"]) < len(counts["worker"])
    assert len(counts["sweeper"]) < len(counts["worker"])
