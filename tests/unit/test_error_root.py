"""Every exception class defined under `shared/`, `infra/` and `aiexec/` derives from the one root,
`shared.errors.AIExecError` (issue 14: one exception root)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import aiexec
import infra
import shared
from shared.errors import AIExecError

# Modules that may not import `shared`, with the reason. Their exceptions are exempt.
STANDALONE = {
    # Runs as `python3 infra/cloudbuild_source.py` on the bare build image before anything is
    # installed: standard library only, and `infra/` (not the repository) is on its path.
    "infra.cloudbuild_source",
}


def _modules() -> list[ModuleType]:
    found = []
    for package in (shared, infra, aiexec):
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            found.append(importlib.import_module(info.name))
    return found


def _exceptions(module: ModuleType) -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and issubclass(cls, BaseException)
    ]


def test_the_walk_finds_the_known_exceptions() -> None:
    names = {cls.__qualname__ for module in _modules() for cls in _exceptions(module)}
    assert {"AIExecError", "ProviderError", "StackError", "RequestProblemError"} <= names


@pytest.mark.parametrize(
    "module", [m for m in _modules() if m.__name__ not in STANDALONE], ids=lambda m: m.__name__
)
def test_every_exception_derives_from_the_root(module: ModuleType) -> None:
    strays = [cls.__qualname__ for cls in _exceptions(module) if not issubclass(cls, AIExecError)]
    assert not strays, f"{module.__name__}: derive {strays} from shared.errors.AIExecError"


@pytest.mark.parametrize("name", sorted(STANDALONE))
def test_an_exempt_module_really_stands_alone(name: str) -> None:
    source = inspect.getsource(importlib.import_module(name))
    assert "from shared" not in source and "import shared" not in source
