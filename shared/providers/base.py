"""The provider contract: one call in, one completion or one classified error out.

Workers decide what to do from the error *kind* alone, so every adapter must map its SDK's
exceptions onto exactly these three kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from shared.errors import AIExecError

# A file part the adapter cannot send: its bytes were not read and the provider cannot fetch it.
UNREADABLE_FILE = "unreadable_file"


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # 429, 5xx, timeouts, resets: worth retrying on the same provider
    PROVIDER_FATAL = "provider_fatal"  # auth, quota; unknown model, too long, blocked: hand over
    INVALID_TASK = "invalid_task"  # the request itself is wrong: no provider will accept it


@dataclass(frozen=True)
class FileData:
    """A file part of a conversation. `data` holds the bytes when the worker has read them
    (shared/attachments/); None means the provider is given the `uri` itself (Vertex reads
    `gs://` objects natively)."""

    uri: str
    mime_type: str
    data: bytes | None = None


Part = str | FileData  # a text part, or a file part


@dataclass(frozen=True)
class Turn:
    """One user or assistant turn (system text travels in `CompletionRequest.system`)."""

    role: Literal["user", "assistant"]
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    model: str
    system: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    # A conversation instead of `prompt` (tasks with `messages`); empty: one user turn, `prompt`.
    turns: tuple[Turn, ...] = ()
    # A JSON Schema the answer must follow (shared/structured_output.py); each adapter passes it
    # in its provider's native form.
    response_schema: dict[str, Any] | None = None

    def conversation(self) -> tuple[Turn, ...]:
        """The turns to send: the conversation, or the prompt as a single user turn."""
        return self.turns or (Turn("user", (self.prompt,)),)


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


class ProviderError(AIExecError):
    """A provider call that did not produce a completion.

    `counts_against_provider` says whether the failure is evidence about the provider's health
    (any request would have failed now: an outage, rate limiting, a timeout, rejected credentials,
    an exhausted quota) rather than about this request (the model it names, its size, its content,
    its parameters). Only the former may count towards opening the circuit breaker: otherwise one
    client's bad requests would fail every other client's tasks.
    """

    kind: ErrorKind = ErrorKind.TRANSIENT
    counts_against_provider: bool = True

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
    """This provider cannot serve the task, for a reason of the provider's (credentials, quota,
    configuration): hand over, and count it against the provider."""

    kind = ErrorKind.PROVIDER_FATAL


class RequestRefusedError(ProviderFatalError):
    """This provider refused this request (the model it names does not exist here, the prompt is
    too long for this provider, its content was blocked, another 4xx about what the request
    asked for): hand over, since another provider may accept it, but never count it against
    the provider, whose health it says nothing about."""

    counts_against_provider = False


class InvalidTaskError(ProviderError):
    """The request itself is wrong (400/422): no provider will accept it, the task fails."""

    kind = ErrorKind.INVALID_TASK
    counts_against_provider = False


class Provider(Protocol):
    """One AI provider. Implementations are cheap to call repeatedly and thread-safe."""

    name: str

    def default_model(self) -> str: ...

    def complete(self, request: CompletionRequest) -> Completion: ...
