"""What a client is told about a failed provider call: its code and a fixed sentence.

A provider's own error text can carry its request ids, the organisation or project name,
internal URLs and quoted request content; it belongs to the operator. Task documents
(`error.message`, `attempts[].error.message`, so `GET /tasks/{id}` and the V2 `POST /`) hold
only the summary below; the whole text goes to the worker's log, with the task's id
(`shared/usage.py`, at record time).
"""

from __future__ import annotations

SUMMARIES: dict[str, str] = {
    "attachment_too_large": "an attached file is over the size limit",
    "attachment_unavailable": "an attached file could not be read for now (storage or network)",
    "attachment_unreadable": "an attached file does not exist or this service may not read it",
    "auth": "the provider refused this service's credentials",
    "bad_response": "the provider's answer could not be read",
    "blocked": "the provider's safety filters refused the prompt",
    "client_error": "the provider refused the request",
    "conflict": "the provider reported a conflict",
    "connection": "the provider could not be reached",
    "context_length_exceeded": "the request is too long for the provider's model",
    "invalid_output": "the answer did not follow the task's response_schema",
    "invalid_request": "the provider refused the request as invalid",
    "model_unavailable": "the provider refused the model: it does not exist there or was retired",
    "not_configured": "this service has no configuration for the provider",
    "not_found": "the provider did not find what the request named",
    "quota": "this service's quota or billing at the provider is exhausted",
    "rate_limited": "the provider is rate-limiting this service",
    "timeout": "the provider did not answer in time",
    "unavailable": "the provider is unavailable (a server error)",
    "unexpected": "the provider call failed unexpectedly",
    "unreadable_file": "a file of the task could not be given to the provider",
}


def summary(code: str) -> str:
    """The fixed sentence for a provider error code (a generic one for a code not listed)."""
    return SUMMARIES.get(code, "the provider call failed")
