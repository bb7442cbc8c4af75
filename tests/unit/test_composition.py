"""One composition module per function (issue 14): each function's entry point reaches only what
that function uses. Measured on the static import graph (tests/unit/test_layout.py's walker),
so a lazy import inside a function counts too."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.unit.test_layout import REPO, _reachable_from

FUNCTIONS = ("ingest", "worker", "finalizer", "sweeper", "report")
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
# What calls a provider: the worker, the adapters (and their SDKs), the registry, the breaker.
PROVIDER_CALLING = (
    "shared/worker.py",
    "shared/routing.py",
    "shared/circuit.py",
    "shared/providers/registry.py",
    "shared/providers/*/adapter.py",
)


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


@pytest.mark.parametrize("function", ["finalizer", "sweeper", "report"])
def test_functions_that_call_no_provider_reach_no_provider_code(function: str) -> None:
    reached = _reached(function)
    assert not _matching(reached, PROVIDER_CALLING)
    assert not _matching(reached, INGEST_ONLY)


def test_module_counts_per_function() -> None:
    """Prints each function's reach (`pytest -s`); a function that calls no provider reaches
    less than the worker, and the worker less than ingest (which also names providers' models)."""
    counts = {function: _reached(function) for function in FUNCTIONS}
    for function, modules in counts.items():
        print(f"{function}: {len(modules)} shared modules, {_lines(modules)} lines")
    assert len(counts["worker"]) < len(counts["ingest"])
    assert len(counts["finalizer"]) < len(counts["worker"])
    assert len(counts["sweeper"]) < len(counts["worker"])
