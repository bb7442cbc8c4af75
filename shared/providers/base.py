"""The provider contract: one call in, one completion or one classified error out.

Workers decide what to do from the error *kind* alone, so every adapter must map its SDK's
exceptions onto exactly these three kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # 429, 5xx, timeouts, resets: worth retrying on the same provider
    PROVIDER_FATAL = "provider_fatal"  # auth, unknown model, quota, context too long: hand over
    INVALID_TASK = "invalid_task"  # the request itself is wrong: no provider will accept it


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    model: str
    system: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class ProviderError(Exception):
    """A provider call that did not produce a completion."""

    kind: ErrorKind = ErrorKind.TRANSIENT

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


class TransientError(ProviderError):
    kind = ErrorKind.TRANSIENT


class ProviderFatalError(ProviderError):
    kind = ErrorKind.PROVIDER_FATAL


class InvalidTaskError(ProviderError):
    kind = ErrorKind.INVALID_TASK


class Provider(Protocol):
    """One AI provider. Implementations are cheap to call repeatedly and thread-safe."""

    name: str

    def default_model(self) -> str: ...

    def complete(self, request: CompletionRequest) -> Completion: ...
