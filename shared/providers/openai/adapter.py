"""OpenAI adapter: Chat Completions through the official `openai` SDK.

The SDK's own retries are off (`max_retries=0`): the worker owns the retry policy and counts every
provider call, so a hidden retry would both double-bill and hide attempts from the usage log.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import TypeVar

import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartParam,
    ChatCompletionContentPartTextParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)
from openai.types.chat.chat_completion_content_part_param import File
from openai.types.shared_params import ResponseFormatJSONSchema

from shared.providers.base import (
    UNREADABLE_FILE,
    Completion,
    CompletionRequest,
    FileData,
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

# The simulator (and keyless OpenAI-compatible servers) ignore the key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "sim-no-key"
_PROVIDER_CODES = (CONTEXT_LENGTH_EXCEEDED, INSUFFICIENT_QUOTA)
_MODEL_NOT_FOUND = "model_not_found"  # OpenAI's code for a model that does not exist (404)
# OpenAI's 400 for a prompt its safety system flagged ("Invalid prompt: your prompt was flagged as
# potentially violating our usage policy"): this provider's judgement of this prompt.
_INVALID_PROMPT = "invalid_prompt"

# The `name` OpenAI asks for with a JSON schema (a-z, A-Z, 0-9, _ and -, at most 64).
SCHEMA_NAME = "task_answer"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Endpoint:
    base_url: str | None  # None: the SDK's default (api.openai.com)
    api_key: str


def resolve_endpoint(settings: TaskSettings) -> Endpoint | None:
    """Where calls go, or None when nothing is configured.

    A real API key without an explicit base URL means "the real OpenAI", even when the local
    simulator is running: the key must never be sent to a local stand-in by accident.
    """
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if settings.openai_base_url:
        return Endpoint(settings.openai_base_url, key or PLACEHOLDER_API_KEY)
    if key:
        return Endpoint(None, key)
    if settings.simulator_url:
        return Endpoint(settings.simulator_url.rstrip("/") + "/v1", PLACEHOLDER_API_KEY)
    return None


class OpenAIProvider:
    name = "openai"

    def __init__(self, settings: TaskSettings) -> None:
        self._settings = settings
        self._endpoint = resolve_endpoint(settings)
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None

    def default_model(self) -> str:
        return self._settings.openai_model

    def complete(self, request: CompletionRequest) -> Completion:
        client = self._get_client()
        model = request.model or self.default_model()
        messages = wire_messages(request)  # before the call: its errors are classified
        try:
            response = client.chat.completions.create(
                model=model,
                messages=messages,
                max_completion_tokens=_or_omit(request.max_output_tokens),
                temperature=_or_omit(request.temperature),
                response_format=response_format(request),
            )
        except openai.APIError as exc:
            raise classify(exc) from exc
        except Exception as exc:
            raise unexpected_error("openai", exc) from exc
        return to_completion(response, model)

    def _get_client(self) -> openai.OpenAI:
        if self._endpoint is None:
            raise not_configured(
                self.name, "set OPENAI_API_KEY, OPENAI_BASE_URL or AIEXEC_SIMULATOR_URL"
            )
        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(
                    api_key=self._endpoint.api_key,
                    base_url=self._endpoint.base_url or openai.not_given,
                    timeout=self._settings.openai_timeout_s,
                    max_retries=0,
                )
            return self._client


def _or_omit(value: _T | None) -> _T | openai.Omit:
    return openai.omit if value is None else value


def wire_messages(request: CompletionRequest) -> list[ChatCompletionMessageParam]:
    """The conversation as Chat Completions messages (system first, as a system message)."""
    messages: list[ChatCompletionMessageParam] = []
    if request.system:
        messages.append(ChatCompletionSystemMessageParam(role="system", content=request.system))
    for turn in request.conversation():
        if turn.role == "assistant":
            text = "".join(part for part in turn.parts if isinstance(part, str))
            messages.append(ChatCompletionAssistantMessageParam(role="assistant", content=text))
        elif all(isinstance(part, str) for part in turn.parts):
            text = "".join(part for part in turn.parts if isinstance(part, str))
            messages.append(ChatCompletionUserMessageParam(role="user", content=text))
        else:
            parts = [_content_part(part) for part in turn.parts]
            messages.append(ChatCompletionUserMessageParam(role="user", content=parts))
    return messages


def _content_part(part: Part) -> ChatCompletionContentPartParam:
    """A user message's part: text, an image (`image_url`: an https URL, or the bytes as a data
    URI) or another file (`file` with the bytes as a data URI; OpenAI reads PDFs this way).
    Chat Completions, read 2026-11-30: "image_url" parts accept URLs or base64 data URIs;
    "file" parts take `file_data` (a base64 data URI) and a `filename`."""
    if isinstance(part, str):
        return ChatCompletionContentPartTextParam(type="text", text=part)
    if part.mime_type.startswith("image/"):
        url = _data_uri(part) if part.data is not None else part.uri
        return ChatCompletionContentPartImageParam(type="image_url", image_url={"url": url})
    if part.data is None:
        # OpenAI cannot fetch a document by URL: the worker must have read the bytes. Another
        # provider (Vertex reads gs:// itself) may still serve the task.
        raise RequestRefusedError(UNREADABLE_FILE, f"no bytes read for a {part.mime_type} file")
    name = part.uri.rsplit("/", 1)[-1] or "file"
    return File(type="file", file={"file_data": _data_uri(part), "filename": name})


def _data_uri(part: FileData) -> str:
    return f"data:{part.mime_type};base64," + base64.b64encode(part.data or b"").decode()


def response_format(request: CompletionRequest) -> ResponseFormatJSONSchema | openai.Omit:
    """Structured outputs in strict mode: the answer is decoded under the schema (ingest
    accepted only schemas strict mode supports: shared/structured_output.py)."""
    if request.response_schema is None:
        return openai.omit
    return ResponseFormatJSONSchema(
        type="json_schema",
        json_schema={"name": SCHEMA_NAME, "schema": request.response_schema, "strict": True},
    )


def classify(exc: openai.APIError) -> ProviderError:
    """Map any `openai` SDK error onto the provider contract's kinds."""
    if isinstance(exc, openai.APITimeoutError):
        return timeout_error(f"OpenAI call timed out: {exc.message}")
    if isinstance(exc, openai.APIConnectionError):
        return connection_error(f"cannot reach OpenAI: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        code = exc.code if isinstance(exc.code, str) else None
        # Quota exhaustion may arrive as type rather than code on some OpenAI-compatible APIs.
        reason = next((c for c in (code, exc.type) if c in _PROVIDER_CODES), None)
        if code == _MODEL_NOT_FOUND:
            reason = MODEL_UNAVAILABLE
        elif code == _INVALID_PROMPT:
            reason = BLOCKED
        return error_for_status(
            exc.status_code,
            exc.message,
            provider_code=reason,
            retry_after_s=retry_after_from_headers(exc.response.headers),
        )
    # A 2xx whose body does not match the schema: the service misbehaved, try again.
    return TransientError("bad_response", f"unexpected OpenAI response: {exc.message}")


def to_completion(response: ChatCompletion, requested_model: str) -> Completion:
    if not response.choices:
        raise TransientError("bad_response", "OpenAI returned no choices")
    choice = response.choices[0]
    if choice.message.refusal:
        # Structured outputs report a safety refusal here instead of an answer.
        raise RequestRefusedError(BLOCKED, "OpenAI refused the request (message.refusal)")
    usage = response.usage
    prompt = usage.prompt_tokens if usage else 0
    completion = usage.completion_tokens if usage else 0
    cached = reasoning = 0
    if usage and usage.prompt_tokens_details:
        cached = usage.prompt_tokens_details.cached_tokens or 0
    if usage and usage.completion_tokens_details:
        reasoning = usage.completion_tokens_details.reasoning_tokens or 0
    return Completion(
        text=choice.message.content or "",
        model=response.model or requested_model,
        finish_reason=choice.finish_reason or "unknown",
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=usage.total_tokens if usage else prompt + completion,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
    )
