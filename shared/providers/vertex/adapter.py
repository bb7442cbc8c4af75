"""Vertex AI adapter: Gemini `generateContent` through the official `google-genai` SDK.

SDK retries are off (`HttpRetryOptions(attempts=1)`): the worker owns the retry policy and counts
every provider call. With google-genai 2.x no `retry_options` already means a single attempt;
stating it keeps that true if the default ever changes.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import threading
from types import ModuleType
from typing import Any

import google.auth.exceptions as auth_errors
import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from google.oauth2.credentials import Credentials

from shared.providers.base import (
    Completion,
    CompletionRequest,
    Part,
    ProviderError,
    ProviderFatalError,
    RequestRefusedError,
    TransientError,
)
from shared.providers.errors import (
    BLOCKED,
    CONTEXT_LENGTH_EXCEEDED,
    MODEL_UNAVAILABLE,
    connection_error,
    error_for_status,
    not_configured,
    retry_after_from_headers,
    timeout_error,
    unexpected_error,
)
from shared.settings import TaskSettings

# Any bearer token works against the simulator; anonymous credentials do not, because the SDK
# tries to refresh them.
SIMULATOR_TOKEN = "sim"  # noqa: S105 - a fixed dummy, not a secret
_CONTEXT_TOO_LONG = re.compile(r"exceeds the maximum number of tokens|token count .*exceed", re.I)
# Vertex AI's 404 for a model that does not exist or was retired names the publisher model
# ("Publisher Model `projects/…/models/X` was not found …"; the Gemini API: "models/X is not
# found …"); any other 404 (a wrong endpoint) is not about the model.
_MODEL_NOT_FOUND = re.compile(r"\bPublisher Model\b|\bmodels/\S+ is not found")
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
# Normalised to OpenAI's vocabulary so that results look alike whichever provider answered.
_FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def _http_modules() -> list[ModuleType]:
    # google-genai runs on httpx or on its fork httpx2 (GOOGLE_GENAI_HTTP_CLIENT); their
    # exception classes are unrelated, so both must be caught.
    modules = [httpx]
    with contextlib.suppress(ImportError):
        modules.append(importlib.import_module("httpx2"))
    return modules


_TIMEOUT_ERRORS: tuple[type[Exception], ...] = tuple(m.TimeoutException for m in _http_modules())
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = tuple(m.TransportError for m in _http_modules())
_CALL_ERRORS: tuple[type[Exception], ...] = (
    genai_errors.APIError,
    auth_errors.GoogleAuthError,
    *_TRANSPORT_ERRORS,
)


class VertexProvider:
    name = "vertex"

    def __init__(self, settings: TaskSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._client: genai.Client | None = None

    def default_model(self) -> str:
        return self._settings.vertex_model

    def complete(self, request: CompletionRequest) -> Completion:
        model = request.model or self.default_model()
        structured = request.response_schema is not None
        # google-genai 2.34 (read 2026-11-30): `response_json_schema` takes a JSON Schema as
        # given (an alternative to the OpenAPI-style `response_schema`) and requires
        # `response_mime_type="application/json"`.
        config = types.GenerateContentConfig(
            system_instruction=request.system or None,
            max_output_tokens=request.max_output_tokens,
            temperature=request.temperature,
            response_mime_type="application/json" if structured else None,
            response_json_schema=request.response_schema,
        )
        try:
            response = self._get_client().models.generate_content(
                model=model, contents=wire_contents(request), config=config
            )
        except _CALL_ERRORS as exc:
            raise classify(exc) from exc
        except Exception as exc:
            raise unexpected_error("vertex", exc) from exc
        return to_completion(response, model)

    def _get_client(self) -> genai.Client:
        with self._lock:
            if self._client is None:
                self._client = build_client(self._settings)
            return self._client


def wire_contents(request: CompletionRequest) -> list[types.Content]:
    """The conversation as Gemini `contents`: roles `user` and `model` (the system text goes in
    `system_instruction`)."""
    return [
        types.Content(
            role="model" if turn.role == "assistant" else "user",
            parts=[_part(part) for part in turn.parts],
        )
        for turn in request.conversation()
    ]


def _part(part: Part) -> types.Part:
    """Text; a file by URI when its bytes were not read (Vertex AI reads `gs://` objects with
    the worker's identity, and public https URLs), else inline bytes."""
    if isinstance(part, str):
        return types.Part.from_text(text=part)
    if part.data is None:
        return types.Part.from_uri(file_uri=part.uri, mime_type=part.mime_type)
    return types.Part.from_bytes(data=part.data, mime_type=part.mime_type)


def build_client(settings: TaskSettings) -> genai.Client:
    """A Vertex AI client: the simulator (or an explicit endpoint) when configured, else ADC."""
    base_url = settings.vertex_base_url or settings.simulator_url
    http_options = types.HttpOptions(
        base_url=base_url,
        # Milliseconds; 0 would mean "no timeout" to the SDK.
        timeout=max(1, round(settings.vertex_timeout_s * 1000)),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(
        vertexai=True,
        project=settings.vertex_project or settings.project_id,
        location=settings.vertex_location,
        credentials=_simulator_credentials() if base_url else None,
        http_options=http_options,
    )


def _simulator_credentials() -> Credentials:
    # google-auth leaves this constructor unannotated.
    return Credentials(token=SIMULATOR_TOKEN)  # type: ignore[no-untyped-call]


def classify(exc: Exception) -> ProviderError:
    """Map a google-genai, google-auth or HTTP transport error onto the contract's kinds."""
    if isinstance(exc, genai_errors.APIError):
        return _classify_api_error(exc)
    if isinstance(exc, auth_errors.DefaultCredentialsError):
        return not_configured("vertex", f"no Google credentials (ADC): {exc}")
    if isinstance(exc, auth_errors.TimeoutError | auth_errors.TransportError):
        return connection_error(f"cannot reach the Google token endpoint: {exc}")
    if isinstance(exc, auth_errors.GoogleAuthError):
        return ProviderFatalError("auth", f"Google credentials rejected: {exc}")
    if isinstance(exc, _TIMEOUT_ERRORS):
        return timeout_error(f"Vertex AI call timed out: {exc!r}")
    return connection_error(f"cannot reach Vertex AI: {exc!r}")


def _classify_api_error(exc: genai_errors.APIError) -> ProviderError:
    message = exc.message or str(exc)
    status = exc.code
    reason = None
    if status == 400 and _CONTEXT_TOO_LONG.search(message):
        reason = CONTEXT_LENGTH_EXCEEDED
    elif status == 404 and _MODEL_NOT_FOUND.search(message):
        reason = MODEL_UNAVAILABLE
    headers = getattr(exc.response, "headers", None)
    retry_after = retry_after_from_headers(headers) if headers is not None else None
    if retry_after is None:
        retry_after = _retry_info_delay(exc.details)
    return error_for_status(status, message, provider_code=reason, retry_after_s=retry_after)


def _retry_info_delay(details: Any) -> float | None:
    """`retryDelay` of a google.rpc.RetryInfo error detail ("1.5s"), which Google APIs send
    instead of (or besides) a Retry-After header."""
    error = details.get("error", details) if isinstance(details, dict) else None
    entries = error.get("details") if isinstance(error, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("@type", "")).endswith("RetryInfo"):
            match = _RETRY_DELAY.match(str(entry.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def to_completion(response: types.GenerateContentResponse, requested_model: str) -> Completion:
    if not response.candidates:
        feedback = response.prompt_feedback
        reason = feedback.block_reason if feedback and feedback.block_reason else None
        if reason is not None:
            # Blocked by this provider's safety filters; another provider may judge otherwise.
            raise RequestRefusedError(BLOCKED, f"Vertex AI blocked the prompt: {reason}")
        raise TransientError("bad_response", "Vertex AI returned no candidates")
    candidate = response.candidates[0]
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    finish = candidate.finish_reason
    finish_name = finish.value if finish is not None else "unknown"
    usage = response.usage_metadata
    prompt = (usage.prompt_token_count if usage else None) or 0
    output = (usage.candidates_token_count if usage else None) or 0
    thoughts = (usage.thoughts_token_count if usage else None) or 0
    return Completion(
        text=text,
        model=response.model_version or requested_model,
        finish_reason=_FINISH_REASONS.get(finish_name, finish_name.lower()),
        prompt_tokens=prompt,
        # Thoughts are billed as output, as OpenAI's reasoning tokens are, so count them here.
        completion_tokens=output + thoughts,
        total_tokens=(usage.total_token_count if usage else None) or prompt + output + thoughts,
        cached_tokens=(usage.cached_content_token_count if usage else None) or 0,
        reasoning_tokens=thoughts,
    )
