"""The simulator's wire dialects, one module per provider, found through the provider specs.

Each provider's spec (`shared/providers/<name>/spec.py`) names its dialect module; the server
routes every request by the module's paths, so adding a provider to the simulator is adding its
module, not editing the server. A dialect module provides what `Dialect` lists.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, Protocol, cast

from infra.simulator.faults import Outcome
from infra.simulator.models import ModelRegistry
from infra.simulator.textgen import PromptCache
from infra.simulator.wire import Reply
from shared.providers.registry import SPECS


class Dialect(Protocol):
    PROVIDER: str
    CALL_PATH: re.Pattern[str]  # the model call (POST)
    MODELS_PATH: re.Pattern[str]  # the model list / one model (GET); group "model" if one

    def called_model(self, body: Any, match: re.Match[str]) -> str:
        """The model a call names (from its body or its path)."""
        ...

    def answer(
        self,
        body: Any,
        match: re.Match[str],
        headers: Mapping[str, str],
        cache: PromptCache,
        models: ModelRegistry,
    ) -> Reply:
        """The provider's answer to a model call no fault applies to."""
        ...

    def fault(self, outcome: Outcome, match: re.Match[str], model: str) -> Reply:
        """A fault rendered in the provider's own error shape."""
        ...

    def lookup(self, models: ModelRegistry, model: str) -> Reply:
        """The provider's model list (`model` = "") or one model's entry (or its 404)."""
        ...


@cache
def dialects() -> tuple[Dialect, ...]:
    """Every registered provider's dialect, in registry order."""
    found = []
    for name, spec in SPECS.items():
        module = cast(Dialect, importlib.import_module(spec.simulator.module))
        if name != module.PROVIDER:
            raise ValueError(f"{spec.simulator.module} speaks {module.PROVIDER!r}, not {name!r}")
        found.append(module)
    return tuple(found)
