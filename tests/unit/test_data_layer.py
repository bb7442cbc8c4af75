"""One data layer (issue 14): Firestore is spoken to only by `shared/firestore/`; a lost race is
caught in one place (its conditional-write helper); the terminal statuses are defined once."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "shared"
DATA_LAYER = SHARED / "firestore"
CONDITIONAL = DATA_LAYER / "conditional.py"
FIRESTORE_MODULES = ("google.cloud.firestore", "google.cloud.firestore_v1")
# The exceptions of a conditional write that lost its race.
CONFLICT_NAMES = {"FailedPrecondition", "AlreadyExists", "NotFound", "Aborted", "CONFLICTS"}
# Modules that repeat one conditional-write loop each, before the data layer.
RETRYING = (
    "shared/firestore/circuits.py",
    "shared/budget_shards.py",
    "shared/ratelimit.py",
    "shared/firestore/tasks/leases.py",
    "shared/firestore/tasks/creation.py",
)


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imports(path: Path) -> Iterator[str]:
    """Every module (and `module.name`) `path` imports."""
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _outside_data_layer() -> list[Path]:
    return [p for p in _modules(SHARED) if DATA_LAYER not in p.parents]


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_no_module_outside_the_data_layer_imports_firestore() -> None:
    offenders = [
        f"{_rel(path)} imports {name}"
        for path in _outside_data_layer()
        for name in _imports(path)
        if name.startswith(FIRESTORE_MODULES)
    ]
    assert not offenders, "Firestore belongs in shared/firestore/: " + "; ".join(offenders)


def test_google_api_core_is_used_outside_the_data_layer_only_where_not_about_firestore() -> None:
    """api_core's exceptions and retries are what Firestore raises and takes; a module outside
    the data layer that needs them (not for Firestore) is named here, with why."""
    allowed: dict[str, str] = {
        "shared/attachments/gcs.py": "Cloud Storage's errors (attachments), not Firestore's",
    }
    offenders = [
        f"{_rel(path)} imports {name}"
        for path in _outside_data_layer()
        for name in _imports(path)
        if name.startswith("google.api_core") and _rel(path) not in allowed
    ]
    assert not offenders, "; ".join(offenders)


def _api_core_aliases(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names bound to google.api_core.exceptions, exception names imported from it)."""
    modules: set[str] = set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "google.api_core":
            modules |= {a.asname or a.name for a in node.names if a.name == "exceptions"}
        elif isinstance(node, ast.ImportFrom) and node.module == "google.api_core.exceptions":
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            modules |= {
                a.asname for a in node.names if a.asname and a.name.startswith("google.api_core")
            }
    return modules, names


def _catches_a_conflict(handler: ast.ExceptHandler, modules: set[str], names: set[str]) -> bool:
    for node in ast.walk(handler.type) if handler.type is not None else ():
        if (
            isinstance(node, ast.Attribute)
            and node.attr in CONFLICT_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            return True
        if isinstance(node, ast.Name) and (node.id in names or node.id == "CONFLICTS"):
            return True
    return False


def test_only_the_conditional_write_helper_catches_a_lost_race() -> None:
    catches: dict[str, list[int]] = {}
    for path in _modules(SHARED):
        tree = _tree(path)
        modules, names = _api_core_aliases(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and _catches_a_conflict(node, modules, names):
                catches.setdefault(_rel(path), []).append(node.lineno)
    elsewhere = {name: lines for name, lines in catches.items() if name != _rel(CONDITIONAL)}
    assert not elsewhere, f"catch a lost race through shared/firestore/conditional.py: {elsewhere}"
    assert catches.get(_rel(CONDITIONAL)), "the helper itself catches the conflicts"


def test_the_conflict_tuple_is_defined_once() -> None:
    defined = [
        _rel(path)
        for path in _modules(SHARED)
        if re.search(r"^CONFLICTS\b.*=", path.read_text(), flags=re.MULTILINE)
    ]
    assert defined == [_rel(CONDITIONAL)]


def test_every_read_decide_write_loop_uses_the_one_helper() -> None:
    for name in RETRYING:
        text = (REPO / name).read_text()
        uses = "retry_on_conflict" in text or "change_document" in text  # (the helper on one doc)
        assert uses, f"{name} should retry through the helper"
        assert not re.search(r"for _ in range\(", text), f"{name} hand-rolls a retry loop"


def test_the_terminal_statuses_are_defined_once() -> None:
    """Defined in shared/schemas.py (from `TaskStatus.terminal`) and imported everywhere."""
    literal = re.compile(r"""["']succeeded["'],\s*["']failed["'],\s*["']rejected["']""")
    derived = re.compile(r"for s in TaskStatus if s\.terminal")
    found = [
        _rel(path)
        for root in ("shared", "aiexec", "infra")
        for path in _modules(REPO / root)
        if literal.search(path.read_text()) or derived.search(path.read_text())
    ]
    assert found == ["shared/schemas.py"]
