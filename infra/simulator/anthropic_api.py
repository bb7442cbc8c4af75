"""The Anthropic dialect: the Messages API under `/anthropic` (the SDK's base URL on the simulator,
apart from OpenAI's `/v1/...`): `POST /anthropic/v1/messages`, `GET /anthropic/v1/models[/{id}]`.

Bodies, headers and error shapes follow api.anthropic.com closely enough for the unmodified
`anthropic` SDK to parse them and raise its own exception classes: every error is
`{"type": "error", "error": {"type", "message"}, "request_id"}` with the status the SDK keys its
classes off; a call without the `anthropic-version` header is refused as the real API does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from infra.simulator.faults import Outcome
from infra.simulator.files import anthropic_tokens, with_file_tokens
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

PROVIDER = "anthropic"
CALL_PATH = re.compile(r"^/anthropic/v1/messages$")
MODELS_PATH = re.compile(r"^/anthropic/v1/models(?:/(?P<model>[^/]+))?$")
CONTEXT_WINDOW_TOKENS = 1_000_000
_STOP = {"stop": "end_turn", "length": "max_tokens"}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error(
    status: int, message: str, *, type_: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    kind = type_ or _ERROR_TYPES.get(status, "api_error")
    rid = "req_sim_" + request_id(str(status), kind, message)
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": rid}
    return Reply(status, body, {"request-id": rid, **(headers or {})})


def called_model(body: Any, match: re.Match[str]) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


def fault(outcome: Outcome, match: re.Match[str], model: str) -> Reply:
    if outcome.mode == "rate-limit":
        return error(
            429,
            "This request would exceed your organization's rate limit (simulated).",
            headers=retry_after_header(outcome.retry_after_s, with_ms=False),
        )
    if outcome.mode == "quota":
        return error(402, "Your credit balance is too low to access the Anthropic API (simulated).")
    if outcome.mode == "auth":
        return error(401, "invalid x-api-key (simulated)")
    message = "Overloaded (simulated)" if outcome.status == 529 else "Internal server error"
    return error(outcome.status, f"{message} (simulated outage)")


def model_not_found(model: str) -> Reply:
    """What api.anthropic.com answers a call naming a model it does not serve (or retired)."""
    return error(404, f"model: {model}")


def _model_object(view: ModelView) -> dict[str, Any]:
    created = datetime.fromtimestamp(view.created, UTC).isoformat().replace("+00:00", "Z")
    body: dict[str, Any] = {
        "type": "model",
        "id": view.model,
        "display_name": view.model,
        "created_at": created,
    }
    if view.shutdown_date is not None:  # the simulator's own addition, as for the others
        body["shutdown_date"] = view.shutdown_date.isoformat()
    return body


def lookup(models: ModelRegistry, model: str) -> Reply:
    """`GET /v1/models` (model ""): every model served today, one page; else one model or 404."""
    if not model:
        data = [_model_object(view) for view in models.listing(PROVIDER)]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return Reply(200, {"data": data, "has_more": False, "first_id": first, "last_id": last})
    view = models.view(PROVIDER, model)
    if not view.served:
        return model_not_found(model)
    return Reply(200, _model_object(view))


def answer(
    body: Any,
    match: re.Match[str],
    headers: Mapping[str, str],
    cache: PromptCache,
    models: ModelRegistry,
) -> Reply:
    """Answer one Messages API request (no fault applies)."""
    if not headers.get("anthropic-version"):
        return error(400, "anthropic-version: header is required")
    try:
        return _complete(body, cache, models)
    except BadRequest as exc:
        return error(400, f"{exc.param}: {exc.message}" if exc.param else exc.message)


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        return "\n".join(t for t in texts if isinstance(t, str))
    raise BadRequest("Input should be a valid string or a list of content blocks", where)


def _split(body: dict[str, Any]) -> tuple[str, str]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("Field required: a non-empty list of messages", "messages")
    prompt = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise BadRequest("each message needs role 'user' or 'assistant'", f"messages.{index}")
        prompt.append(_text(message.get("content"), f"messages.{index}.content"))
    system = body.get("system")
    return ("" if system is None else _text(system, "system")), "\n".join(prompt)


def _json_schema(output_config: Any) -> dict[str, Any] | None:
    """`output_config.format: {type: json_schema, schema}`, or None for text."""
    if output_config is None:
        return None
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise BadRequest("Input tag must be 'json_schema'", "output_config.format.type")
    why = refusal(fmt.get("schema"))
    if why is not None:
        raise BadRequest(why, "output_config.format.schema")
    schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else None


def _complete(body: Any, cache: PromptCache, models: ModelRegistry) -> Reply:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("Field required", "model")
    max_tokens = optional_int(body.get("max_tokens"), "max_tokens")
    if max_tokens is None:
        raise BadRequest("Field required", "max_tokens")
    if not models.served(PROVIDER, model):
        return model_not_found(model)
    if body.get("stream"):
        raise BadRequest("streaming is not supported by the simulator", "stream")
    system, prompt = _split(body)
    if MARKER_INVALID in prompt or MARKER_INVALID in system:
        raise BadRequest("Invalid request (simulated by the [sim:invalid] marker).")
    prompt_tokens = prompt_token_count(system, prompt)
    if MARKER_CONTEXT_TOO_LONG in prompt or prompt_tokens > CONTEXT_WINDOW_TOKENS:
        total = max(prompt_tokens, CONTEXT_WINDOW_TOKENS + 1)
        return error(400, f"prompt is too long: {total} tokens > {CONTEXT_WINDOW_TOKENS} maximum")
    file_tokens = anthropic_tokens(body)  # unsupported types: this provider's 400
    gen = generate(
        tag=f"{PROVIDER}/{model}",
        model=model,
        prompt=prompt,
        system=system,
        max_tokens=max_tokens,
        cache=cache,
        schema=_json_schema(body.get("output_config")),
    )
    gen = with_file_tokens(gen, file_tokens)
    blocked = MARKER_BLOCKED in prompt or MARKER_BLOCKED in system
    return Reply(200, _message(model, system, prompt, gen, blocked=blocked))


def _message(
    model: str, system: str, prompt: str, gen: Generation, *, blocked: bool
) -> dict[str, Any]:
    # Claude answers a prompt its safety classifiers stop with 200 and stop_reason "refusal".
    text = "" if blocked else gen.text
    return {
        "id": "msg_sim_" + request_id(model, system, prompt),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": "refusal" if blocked else _STOP[gen.finish],
        "stop_sequence": None,
        "usage": {
            # input_tokens excludes what was read from the cache (reported apart).
            "input_tokens": gen.prompt_tokens - gen.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": gen.cached_tokens,
            "output_tokens": 0 if blocked else gen.completion_tokens,
            "output_tokens_details": {"thinking_tokens": gen.reasoning_tokens},
        },
    }
