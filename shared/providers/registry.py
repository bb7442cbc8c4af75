"""Provider lookup by name. Adding a provider = one adapter module + one entry here."""

from __future__ import annotations

import threading
from collections.abc import Callable

from shared.providers.base import Provider
from shared.settings import Settings

Factory = Callable[[Settings], Provider]

_lock = threading.Lock()
_instances: dict[tuple[str, int], Provider] = {}


def _factories() -> dict[str, Factory]:
    # Imported lazily so that a function only loads the SDK of the provider it serves.
    def openai_factory(settings: Settings) -> Provider:
        from shared.providers.openai import OpenAIProvider

        return OpenAIProvider(settings)

    def vertex_factory(settings: Settings) -> Provider:
        from shared.providers.vertex import VertexProvider

        return VertexProvider(settings)

    return {"openai": openai_factory, "vertex": vertex_factory}


def known_providers() -> list[str]:
    return sorted(_factories())


def get_provider(name: str, settings: Settings) -> Provider:
    """The (cached) adapter for `name`; SDK clients are reused across calls."""
    factories = _factories()
    if name not in factories:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(sorted(factories))}")
    key = (name, id(settings))
    with _lock:
        if key not in _instances:
            _instances[key] = factories[name](settings)
        return _instances[key]
