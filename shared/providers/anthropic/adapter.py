"""Anthropic adapter: Claude through the Messages API and the official `anthropic` SDK.

The SDK's own retries are off (`max_retries=0`): the worker owns the retry policy and counts every
provider call, so a hidden retry would both double-bill and hide attempts from the usage log.
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass
from typing import cast

import anthropic
from anthropic.types import (
    AssistantMessageParam,
    ContentBlockParam,
    Message,
    MessageParam,
    OutputConfigParam,
    TextBlockParam,
    UserMessageParam,
)

from shared.providers.base import (
    UNREADABLE_FILE,
    Completion,
    CompletionRequest,
    Part,
    ProviderError,
    RequestRefusedError,
    TransientError,
)
from shared.providers.errors import (
    BLOCKED,
    CONTEXT_LENGTH_EXCEEDED,
    INSUFFICIENT_QUOTA,
    MODEL_UNAVAILABLE,
    connection_error,
    error_for_status,
    not_configured,
    retry_after_from_headers,
    timeout_error,
    unexpected_error,
)
from shared.settings import TaskSettings

PROVIDER = "anthropic"
# The SDK falls back to $ANTHROPIC_BASE_URL when given no base URL; stating the real endpoint
# keeps a stray variable in a worker's environment from redirecting its calls.
API_URL = "https://api.anthropic.com"
# The simulator ignores the key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "sim-no-key"
# Anthropic's 400 for a prompt over the model's window: "prompt is too long: N tokens > M maximum".
_CONTEXT_TOO_LONG = re.compile(r"prompt is too long", re.I)
# Anthropic's 404 for a model it does not serve (never did, or retired): "model: <id>".
_MODEL_NOT_FOUND = re.compile(r"^\s*model:", re.I)
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_PDF = "application/pdf"
# Normalised to OpenAI's vocabulary so that results look alike whichever provider answered.
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
}


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str


def resolve_endpoint(settings: TaskSettings) -> Endpoint | None:
    """Where calls go, or None when nothing is configured.

    A real API key without an explicit base URL means "the real Anthropic API", even when the
    local simulator is running: the key must never be sent to a local stand-in by accident.
    """
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
    if settings.anthropic_base_url:
        return Endpoint(settings.anthropic_base_url, key or PLACEHOLDER_API_KEY)
    if key:
        return Endpoint(API_URL, key)
    if settings.simulator_url:
        return Endpoint(settings.simulator_url.rstrip("/") + "/anthropic", PLACEHOLDER_API_KEY)
    return None


class AnthropicProvider:
    name = PROVIDER

    def __init__(self, settings: TaskSettings) -> None:
        self._settings = settings
        self._endpoint = resolve_endpoint(settings)
        self._lock = threading.Lock()
        self._client: anthropic.Anthropic | None = None

    def default_model(self) -> str:
        return self._settings.anthropic_model

    def complete(self, request: CompletionRequest) -> Completion:
        client = self._get_client()
        model = request.model or self.default_model()
        # The Messages API requires max_tokens; without the task's own, the system's upper bound.
        max_tokens = request.max_output_tokens or self._settings.max_output_tokens_limit
        # The task's `temperature` is not sent: current Claude models answer 400 to sampling
        # parameters other than their defaults, and the SDK no longer offers them.
        messages = wire_messages(request)  # before the call: its errors are classified
        try:
            response = client.messages.create(
                model=model,
                max_tokens=max_tokens,
                messages=messages,
                system=request.system or anthropic.omit,
                output_config=_output_config(request),
            )
        except anthropic.APIError as exc:
            raise classify(exc) from exc
        except Exception as exc:
            raise unexpected_error(PROVIDER, exc) from exc
        return to_completion(response, model)

    def _get_client(self) -> anthropic.Anthropic:
        if self._endpoint is None:
            raise not_configured(
                self.name,
                "set ANTHROPIC_API_KEY, AIEXEC_ANTHROPIC_BASE_URL or AIEXEC_SIMULATOR_URL",
            )
        with self._lock:
            if self._client is None:
                self._client = anthropic.Anthropic(
                    api_key=self._endpoint.api_key,
                    base_url=self._endpoint.base_url,
                    # An explicit timeout also keeps the SDK from refusing large max_tokens
                    # without streaming (it estimates a duration only under its default).
                    timeout=self._settings.anthropic_timeout_s,
                    max_retries=0,
                )
            return self._client


def wire_messages(request: CompletionRequest) -> list[MessageParam]:
    """The conversation as Messages API turns (the system text is the top-level `system`)."""
    messages: list[MessageParam] = []
    for turn in request.conversation():
        content: str | list[ContentBlockParam]
        if all(isinstance(part, str) for part in turn.parts):
            content = "".join(part for part in turn.parts if isinstance(part, str))
        else:
            content = [_block(part) for part in turn.parts]
        if turn.role == "assistant":
            messages.append(AssistantMessageParam(role="assistant", content=content))
        else:
            messages.append(UserMessageParam(role="user", content=content))
    return messages


def _block(part: Part) -> ContentBlockParam:
    """A content block: text, an image (`image`) or a PDF (`document`), as base64 of the bytes
    the worker read, or by URL for an https file it did not (Messages API, read 2026-11-30:
    image sources base64/url for jpeg, png, gif, webp; document sources base64/url for PDF)."""
    if isinstance(part, str):
        return TextBlockParam(type="text", text=part)
    kind = "image" if part.mime_type in _IMAGE_TYPES else "document"
    if kind == "document" and part.mime_type != _PDF:
        raise RequestRefusedError(UNREADABLE_FILE, f"Anthropic does not read {part.mime_type}")
    if part.data is not None:
        data = base64.b64encode(part.data).decode()
        source: dict[str, str] = {"type": "base64", "media_type": part.mime_type, "data": data}
    elif part.uri.startswith("https://"):
        source = {"type": "url", "url": part.uri}
    else:
        raise RequestRefusedError(UNREADABLE_FILE, f"no bytes read for {part.uri.split(':')[0]}")
    return cast(ContentBlockParam, {"type": kind, "source": source})


def _output_config(request: CompletionRequest) -> OutputConfigParam | anthropic.Omit:
    """Structured outputs (`output_config.format`, generally available; anthropic SDK 2.14,
    read 2026-11-30): the answer is decoded under the schema and returned as text."""
    if request.response_schema is None:
        return anthropic.omit
    return OutputConfigParam(format={"type": "json_schema", "schema": request.response_schema})


def _reason(exc: anthropic.APIStatusError) -> str | None:
    """The provider's own reason, when it changes the kind or the code of the error."""
    message = exc.api_message or exc.message
    if exc.type == "billing_error":
        return INSUFFICIENT_QUOTA  # whatever the status: retrying will not pay the bill
    if exc.status_code == 400 and _CONTEXT_TOO_LONG.search(message):
        return CONTEXT_LENGTH_EXCEEDED
    if exc.status_code == 404 and _MODEL_NOT_FOUND.search(message):
        return MODEL_UNAVAILABLE
    return None


def classify(exc: anthropic.APIError) -> ProviderError:
    """Map any `anthropic` SDK error onto the provider contract's kinds."""
    if isinstance(exc, anthropic.APITimeoutError):
        return timeout_error(f"Anthropic call timed out: {exc.message}")
    if isinstance(exc, anthropic.APIConnectionError):
        return connection_error(f"cannot reach Anthropic: {exc.message}")
    if isinstance(exc, anthropic.APIStatusError):
        return error_for_status(
            exc.status_code,
            exc.api_message or exc.message,
            provider_code=_reason(exc),
            retry_after_s=retry_after_from_headers(exc.response.headers),
        )
    # A 2xx whose body does not match the schema: the service misbehaved, try again.
    return TransientError("bad_response", f"unexpected Anthropic response: {exc.message}")


def to_completion(response: Message, requested_model: str) -> Completion:
    if response.stop_reason == "refusal":
        # Claude's safety classifiers stopped the answer; another provider may judge otherwise.
        raise RequestRefusedError(BLOCKED, "Anthropic refused the prompt (stop_reason refusal)")
    text = "".join(block.text for block in response.content if block.type == "text")
    usage = response.usage
    cached = usage.cache_read_input_tokens or 0
    # `input_tokens` excludes the prompt tokens read from or written to the cache.
    prompt = usage.input_tokens + cached + (usage.cache_creation_input_tokens or 0)
    details = usage.output_tokens_details
    thinking = (details.thinking_tokens if details else None) or 0
    stop = response.stop_reason or "unknown"
    return Completion(
        text=text,
        model=response.model or requested_model,
        finish_reason=_STOP_REASONS.get(stop, stop),
        prompt_tokens=prompt,
        # Thinking is billed as output and already counted in `output_tokens`.
        completion_tokens=usage.output_tokens,
        total_tokens=prompt + usage.output_tokens,
        cached_tokens=cached,
        reasoning_tokens=thinking,
    )
