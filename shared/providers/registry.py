"""The providers this code base can call: one line each (`shared/providers/<name>/spec.py`).

Adding a provider = its folder + one line in `SPECS` (docs/adding-a-provider.md). Specs load no
SDK; `get_provider` imports an adapter, and so its SDK, only when a worker first asks for it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from shared.providers.anthropic.spec import SPEC as ANTHROPIC
from shared.providers.base import Provider
from shared.providers.openai.spec import SPEC as OPENAI
from shared.providers.spec import ProviderSpec
from shared.providers.vertex.spec import SPEC as VERTEX

if TYPE_CHECKING:  # specs and the registry load neither settings nor an SDK
    from shared.batch.provider import BatchProvider
    from shared.settings import TaskSettings

SPECS: dict[str, ProviderSpec] = {s.name: s for s in (OPENAI, VERTEX, ANTHROPIC)}

_lock = threading.Lock()
# Keyed by the settings object's id; the entry holds that object too, so the id cannot be
# reused by another settings object while the adapter is cached.
_instances: dict[tuple[str, int], tuple[TaskSettings, Provider]] = {}


def known_providers() -> list[str]:
    return sorted(SPECS)


def spec_for(name: str) -> ProviderSpec:
    if name not in SPECS:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(known_providers())}")
    return SPECS[name]


def get_provider(name: str, settings: TaskSettings) -> Provider:
    """The (cached) adapter for `name`; SDK clients are reused across calls."""
    spec = spec_for(name)
    key = (name, id(settings))
    with _lock:
        if key not in _instances:
            _instances[key] = (settings, spec.create(settings))
        return _instances[key][1]


_batch_lock = threading.Lock()
_batch_instances: dict[tuple[str, int], tuple[TaskSettings, BatchProvider]] = {}


def batch_capable(name: str) -> bool:
    """Whether `name` has a batch lane (its spec's `batch`)."""
    spec = SPECS.get(name)
    return spec is not None and spec.batch is not None


def get_batch_provider(name: str, settings: TaskSettings) -> BatchProvider:
    """The (cached) batch adapter for `name`; KeyError when it has no batch lane."""
    batch = spec_for(name).batch
    if batch is None:
        raise KeyError(f"provider {name!r} has no batch lane")
    key = (name, id(settings))
    with _batch_lock:
        if key not in _batch_instances:
            _batch_instances[key] = (settings, batch.create(settings))
        return _batch_instances[key][1]
