"""The Vertex AI Gemini dialect: `POST /v1beta1/projects/{p}/locations/{l}/publishers/google/
models/{model}:generateContent` (and `/v1/...`), and the publisher-model lookup that
google-genai's `client.models.get(model=...)` / `.list()` make in Vertex AI mode:
`GET /v1beta1/publishers/google/models/{model}` and `GET /v1beta1/publishers/google/models`.

Errors use Google's JSON shape (`{"error": {"code", "message", "status", "details"}}`), which
`google.genai.errors.APIError` parses into `.code`, `.status` and `.message`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from infra.simulator.faults import Outcome
from infra.simulator.files import gemini_tokens, with_file_tokens
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

PROVIDER = "vertex"
CONTEXT_WINDOW_TOKENS = 1_048_576
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS"}
_VERSIONS_PAGE = "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error(
    code: int,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    status = _STATUS_NAMES.get(code, "UNKNOWN")
    payload: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        payload["details"] = details
    return Reply(code, {"error": payload}, headers or {})


def fault_reply(outcome: Outcome, resource: str) -> Reply:
    if outcome.mode in ("rate-limit", "quota"):
        delay = outcome.retry_after_s if outcome.mode == "rate-limit" else None
        details = []
        if delay is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay}s"}
            )
        return error(
            429,
            "Resource exhausted. Please try again later. (simulated)",
            details=details,
            headers=retry_after_header(delay, with_ms=False),
        )
    if outcome.mode == "auth":
        return error(
            403,
            f"Permission 'aiplatform.endpoints.predict' denied on resource '{resource}' "
            "(or it may not exist). (simulated)",
        )
    return error(outcome.status, "The service is currently unavailable. (simulated outage)")


def _parts_text(node: Any, where: str) -> str:
    parts = node.get("parts") if isinstance(node, dict) else None
    if not isinstance(parts, list) or not parts:
        raise BadRequest(f"{where}: at least one part is required")
    texts = [p.get("text") for p in parts if isinstance(p, dict)]
    return "\n".join(t for t in texts if isinstance(t, str))


def _split_contents(body: dict[str, Any]) -> tuple[str, str]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("contents is not specified")
    prompt = "\n".join(_parts_text(c, "contents.parts") for c in contents)
    instruction = body.get("systemInstruction", body.get("system_instruction"))
    system = "" if instruction is None else _parts_text(instruction, "systemInstruction.parts")
    return system, prompt


def _json_schema(config: dict[str, Any]) -> dict[str, Any] | None:
    """`generationConfig.responseJsonSchema` (which needs `responseMimeType:
    application/json`), or None for text."""
    schema = config.get("responseJsonSchema", config.get("response_json_schema"))
    if schema is None:
        return None
    mime = config.get("responseMimeType", config.get("response_mime_type"))
    if mime != "application/json":
        raise BadRequest("responseJsonSchema requires responseMimeType application/json")
    why = refusal(schema)
    if why is not None:
        raise BadRequest(f"responseJsonSchema: {why}")
    return schema if isinstance(schema, dict) else None


def model_not_found(resource: str) -> Reply:
    """What Vertex AI answers for a model that does not exist (or was retired)."""
    return error(
        404,
        f"Publisher Model `{resource}` was not found or your project does not have access to "
        f"it. Please ensure you are using a valid model version. For more information, see: "
        f"{_VERSIONS_PAGE}",
    )


def _publisher_model(view: ModelView) -> dict[str, Any]:
    """A PublisherModel resource. `shutdownDate` is the simulator's own addition (present only
    when a shutdown is set); the rest follows the Vertex AI v1beta1 resource."""
    _, _, snapshot = view.model.rpartition("-")
    version = snapshot if view.base and view.base != view.model else "default"
    name = f"publishers/google/models/{view.model}"
    body: dict[str, Any] = {
        "name": name,
        "versionId": version,
        "openSourceCategory": "PROPRIETARY",
        "launchStage": "GA",
        "versionState": "VERSION_STATE_STABLE",
        "publisherModelTemplate": f"projects/{{project}}/locations/{{location}}/{name}",
    }
    if view.shutdown_date is not None:
        body["shutdownDate"] = view.shutdown_date.isoformat()
    return body


def list_models(models: ModelRegistry) -> Reply:
    """`GET .../publishers/google/models`: every model served today (one page)."""
    return Reply(200, {"publisherModels": [_publisher_model(v) for v in models.listing(PROVIDER)]})


def get_model(models: ModelRegistry, model: str) -> Reply:
    """`GET .../publishers/google/models/{model}`: the model, or 404 NOT_FOUND."""
    view = models.view(PROVIDER, model)
    if not view.served:
        return model_not_found(f"publishers/google/models/{model}")
    return Reply(200, _publisher_model(view))


def complete(
    body: Any, model: str, resource: str, cache: PromptCache, models: ModelRegistry
) -> Reply:
    """Answer one generateContent request for `model` (no fault applies)."""
    if not models.served(PROVIDER, model):
        return model_not_found(resource)
    try:
        return _complete(body, model, cache)
    except BadRequest as exc:
        return error(400, f"Request contains an invalid argument: {exc.message}")


def _complete(body: Any, model: str, cache: PromptCache) -> Reply:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    system, prompt = _split_contents(body)
    config = body.get("generationConfig", body.get("generation_config")) or {}
    if not isinstance(config, dict):
        raise BadRequest("generationConfig must be an object")
    max_tokens = optional_int(config.get("maxOutputTokens"), "maxOutputTokens")
    if MARKER_INVALID in prompt or MARKER_INVALID in system:
        raise BadRequest("simulated by the [sim:invalid] marker")
    if MARKER_BLOCKED in prompt or MARKER_BLOCKED in system:
        # Gemini answers a blocked prompt with 200, no candidates and the reason.
        blocked = {"blockReason": "SAFETY", "blockReasonMessage": "simulated: [sim:blocked]"}
        return Reply(200, {"promptFeedback": blocked, "modelVersion": model})
    prompt_tokens = prompt_token_count(system, prompt)
    if MARKER_CONTEXT_TOO_LONG in prompt or prompt_tokens > CONTEXT_WINDOW_TOKENS:
        return error(
            400,
            f"The input token count ({max(prompt_tokens, CONTEXT_WINDOW_TOKENS + 1)}) exceeds "
            f"the maximum number of tokens allowed ({CONTEXT_WINDOW_TOKENS}).",
        )
    file_tokens = gemini_tokens(body)  # unsupported types: this provider's 400
    gen = generate(
        tag=f"{PROVIDER}/{model}",
        model=model,
        prompt=prompt,
        system=system,
        max_tokens=max_tokens,
        cache=cache,
        schema=_json_schema(config),
    )
    gen = with_file_tokens(gen, file_tokens)
    return Reply(200, _response_body(model, system, prompt, gen))


def _usage(gen: Generation) -> dict[str, Any]:
    # Gemini counts thoughts apart from the answer; the shared generator folds them together.
    visible = gen.completion_tokens - gen.reasoning_tokens
    usage: dict[str, Any] = {
        "promptTokenCount": gen.prompt_tokens,
        "candidatesTokenCount": visible,
        "totalTokenCount": gen.prompt_tokens + gen.completion_tokens,
        "trafficType": "ON_DEMAND",
    }
    if gen.cached_tokens:
        usage["cachedContentTokenCount"] = gen.cached_tokens
    if gen.reasoning_tokens:
        usage["thoughtsTokenCount"] = gen.reasoning_tokens
    return usage


def _response_body(model: str, system: str, prompt: str, gen: Generation) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": gen.text}]},
                "finishReason": _FINISH[gen.finish],
            }
        ],
        "usageMetadata": _usage(gen),
        "modelVersion": model,
        "createTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "responseId": request_id(model, system, prompt),
    }


# --- the dialect interface (infra/simulator/dialects.py) ------------------------------------
CALL_PATH = re.compile(
    r"^/(?:v1|v1beta1)/(?P<resource>projects/[^/]+/locations/[^/]+/publishers/google/models/"
    r"(?P<model>[^/:]+)):generateContent$"
)
MODELS_PATH = re.compile(r"^/(?:v1|v1beta1)/publishers/google/models(?:/(?P<model>[^/:]+))?$")


def called_model(body: Any, match: re.Match[str]) -> str:
    return match["model"]


def answer(
    body: Any,
    match: re.Match[str],
    headers: Mapping[str, str],
    cache: PromptCache,
    models: ModelRegistry,
) -> Reply:
    return complete(body, match["model"], match["resource"], cache, models)


def fault(outcome: Outcome, match: re.Match[str], model: str) -> Reply:
    return fault_reply(outcome, match["resource"])


def lookup(models: ModelRegistry, model: str) -> Reply:
    return get_model(models, model) if model else list_models(models)
