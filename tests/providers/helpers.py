"""Calling one adapter in tests: a completion, or the classified error it raised."""

from __future__ import annotations

import pytest

from shared.providers.base import Completion, CompletionRequest, Provider, ProviderError


def call(provider: Provider, prompt: str = "hello", **kwargs: object) -> Completion:
    model = str(kwargs.pop("model", provider.default_model()))
    return provider.complete(CompletionRequest(prompt=prompt, model=model, **kwargs))  # type: ignore[arg-type]


def failure(provider: Provider, prompt: str = "hello", **kwargs: object) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call(provider, prompt, **kwargs)
    return info.value
