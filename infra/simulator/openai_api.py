"""The OpenAI dialect: `POST /v1/chat/completions`, `GET /v1/models`, `GET /v1/models/{id}`.

Bodies and error shapes follow api.openai.com closely enough for the unmodified `openai` SDK to
parse them and raise its own exception classes (which key off status and `error.code`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from infra.simulator.faults import Outcome
from infra.simulator.files import openai_tokens, with_file_tokens
from infra.simulator.models import ModelRegistry, ModelView
from infra.simulator.structured import refusal
from infra.simulator.textgen import (
    MARKER_BLOCKED,
    MARKER_CONTEXT_TOO_LONG,
    MARKER_INVALID,
    Generation,
    PromptCache,
    generate,
    prompt_token_count,
)
from infra.simulator.wire import BadRequest, Reply, optional_int, request_id, retry_after_header

PROVIDER = "openai"
CONTEXT_WINDOW_TOKENS = 128_000
_SYSTEM_ROLES = ("system", "developer")
_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def error(
    status: int,
    message: str,
    *,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    return Reply(status, body, headers or {})


def model_of(body: Any) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


def fault_reply(outcome: Outcome, model: str) -> Reply:
    if outcome.mode == "rate-limit":
        return error(
            429,
            f"Rate limit reached for {model} (simulated). Please try again later.",
            type_="requests",
            code="rate_limit_exceeded",
            headers=retry_after_header(outcome.retry_after_s, with_ms=True),
        )
    if outcome.mode == "quota":
        return error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type_="insufficient_quota",
            code="insufficient_quota",
        )
    if outcome.mode == "auth":
        return error(
            401,
            "Incorrect API key provided (simulated).",
            type_="invalid_request_error",
            code="invalid_api_key",
        )
    return error(
        outcome.status,
        "The server is currently unavailable (simulated outage).",
        type_="server_error",
        code="service_unavailable",
    )


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # Content parts: only text parts carry tokens the simulator can count.
        texts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "\n".join(t for t in texts if isinstance(t, str))
    raise BadRequest("each message needs a 'content' string or list of parts", "messages")


def _split_messages(body: dict[str, Any]) -> tuple[str, str]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", "messages")
    system: list[str] = []
    prompt: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest("each message needs a 'role'", "messages")
        target = system if message["role"] in _SYSTEM_ROLES else prompt
        target.append(_content_text(message.get("content")))
    return "\n".join(system), "\n".join(prompt)


def _json_schema(response_format: Any) -> dict[str, Any] | None:
    """The schema of `response_format: {type: json_schema, json_schema: {name, schema,
    strict}}`, or None for plain text; a schema strict mode cannot take is a 400."""
    if response_format is None or response_format == {"type": "text"}:
        return None
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        raise BadRequest("only response_format types text and json_schema are simulated",
                         "response_format")  # fmt: skip
    spec = response_format.get("json_schema")
    name = spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str) or not _SCHEMA_NAME.fullmatch(name):
        raise BadRequest("json_schema.name must match ^[a-zA-Z0-9_-]{1,64}$", "response_format")
    assert isinstance(spec, dict)
    schema = spec.get("schema")
    why = refusal(schema)
    if why is not None:
        raise BadRequest(f"Invalid schema for response_format '{name}': {why}", "response_format")
    return schema if isinstance(schema, dict) else None


def model_not_found(model: str) -> Reply:
    """What api.openai.com answers a call naming a model that does not exist (or was retired)."""
    return error(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        type_="invalid_request_error",
        code="model_not_found",
    )


def _model_object(view: ModelView) -> dict[str, Any]:
    # `shutdown_date` is not in OpenAI's model object; the simulator adds it (null: none set).
    return {
        "id": view.model,
        "object": "model",
        "created": view.created,
        "owned_by": "system",
        "shutdown_date": view.shutdown_date.isoformat() if view.shutdown_date else None,
    }


def list_models(models: ModelRegistry) -> Reply:
    """`GET /v1/models`: every model served today."""
    data = [_model_object(view) for view in models.listing(PROVIDER)]
    return Reply(200, {"object": "list", "data": data})


def retrieve_model(models: ModelRegistry, model: str) -> Reply:
    """`GET /v1/models/{id}`: one served model, or OpenAI's 404 for a missing one."""
    view = models.view(PROVIDER, model)
    if not view.served:
        return error(
            404,
            f"The model '{model}' does not exist",
            type_="invalid_request_error",
            code="model_not_found",
            param="model",
        )
    return Reply(200, _model_object(view))


def complete(body: Any, cache: PromptCache, models: ModelRegistry) -> Reply:
    """Answer one chat completion request (no fault applies)."""
    try:
        return _complete(body, cache, models)
    except BadRequest as exc:
        return error(400, exc.message, type_="invalid_request_error", param=exc.param)


def _complete(body: Any, cache: PromptCache, models: ModelRegistry) -> Reply:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = model_of(body)
    if not model:
        raise BadRequest("you must provide a model parameter", "model")
    if not models.served(PROVIDER, model):
        return model_not_found(model)
    if body.get("stream"):
        raise BadRequest("streaming is not supported by the simulator", "stream")
    system, prompt = _split_messages(body)
    max_tokens = optional_int(body.get("max_completion_tokens"), "max_completion_tokens")
    if max_tokens is None:
        max_tokens = optional_int(body.get("max_tokens"), "max_tokens")
    if MARKER_INVALID in prompt or MARKER_INVALID in system:
        raise BadRequest("Invalid request (simulated by the [sim:invalid] marker).")
    if MARKER_BLOCKED in prompt or MARKER_BLOCKED in system:
        return error(
            400,
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy "
            "(simulated by the [sim:blocked] marker).",
            type_="invalid_request_error",
            code="invalid_prompt",
        )
    prompt_tokens = prompt_token_count(system, prompt)
    if MARKER_CONTEXT_TOO_LONG in prompt or prompt_tokens > CONTEXT_WINDOW_TOKENS:
        return _context_too_long(prompt_tokens)
    file_tokens = openai_tokens(body)  # unsupported types: this provider's 400
    gen = generate(
        tag=f"{PROVIDER}/{model}",
        model=model,
        prompt=prompt,
        system=system,
        max_tokens=max_tokens,
        cache=cache,
        schema=_json_schema(body.get("response_format")),
    )
    gen = with_file_tokens(gen, file_tokens)
    return Reply(200, _completion_body(model, system, prompt, gen))


def _context_too_long(prompt_tokens: int) -> Reply:
    return error(
        400,
        f"This model's maximum context length is {CONTEXT_WINDOW_TOKENS} tokens. However, your "
        f"messages resulted in {max(prompt_tokens, CONTEXT_WINDOW_TOKENS + 1)} tokens. "
        "Please reduce the length of the messages.",
        type_="invalid_request_error",
        code="context_length_exceeded",
        param="messages",
    )


def _completion_body(model: str, system: str, prompt: str, gen: Generation) -> dict[str, Any]:
    return {
        "id": "chatcmpl-sim-" + request_id(model, system, prompt),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_simulator",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": gen.text, "refusal": None},
                "logprobs": None,
                "finish_reason": gen.finish,
            }
        ],
        "usage": {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": gen.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": gen.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


# --- the dialect interface (infra/simulator/dialects.py) ------------------------------------
CALL_PATH = re.compile(r"^/v1/chat/completions$")
MODELS_PATH = re.compile(r"^/v1/models(?:/(?P<model>[^/]+))?$")


def called_model(body: Any, match: re.Match[str]) -> str:
    return model_of(body)


def answer(
    body: Any,
    match: re.Match[str],
    headers: Mapping[str, str],
    cache: PromptCache,
    models: ModelRegistry,
) -> Reply:
    return complete(body, cache, models)


def fault(outcome: Outcome, match: re.Match[str], model: str) -> Reply:
    return fault_reply(outcome, model)


def lookup(models: ModelRegistry, model: str) -> Reply:
    return retrieve_model(models, model) if model else list_models(models)
