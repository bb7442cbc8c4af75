"""What each provider itself says about a model: listed or not, and its announced shutdown date.

Asked through the providers' own SDKs, with the same endpoint and credentials as the workers
(the local simulator on the local stack): OpenAI's `GET /v1/models` (each model may carry
`shutdown_date`), Vertex AI's publisher-model lookup (`models.get`), which answers 404 for a
model it does not serve, and Anthropic's `GET /v1/models`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from infra.settings import Settings
from shared.errors import AIExecError


@dataclass(frozen=True)
class ProviderView:
    listed: bool | None  # None: the provider could not be asked
    shutdown_date: date | None = None
    error: str | None = None  # why it could not be asked


class ProviderUnreachableError(AIExecError):
    """The provider's model list could not be read (no endpoint, auth, network)."""


def _parse_day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def openai_lookup(settings: Settings) -> Callable[[str], ProviderView]:
    """Reads the model list once; each lookup is then local."""
    import openai

    from shared.providers.openai.adapter import resolve_endpoint

    endpoint = resolve_endpoint(settings)
    if endpoint is None:
        raise ProviderUnreachableError("no OpenAI endpoint configured (OPENAI_API_KEY)")
    client = openai.OpenAI(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url or openai.not_given,
        timeout=settings.openai_timeout_s,
        max_retries=1,
    )
    try:
        listed = {m.id: _parse_day(getattr(m, "shutdown_date", None)) for m in client.models.list()}
    except openai.APIError as exc:
        raise ProviderUnreachableError(f"OpenAI model list: {exc}") from exc

    def lookup(model: str) -> ProviderView:
        if model not in listed:
            return ProviderView(False)
        return ProviderView(True, listed[model])

    return lookup


def vertex_lookup(settings: Settings) -> Callable[[str], ProviderView]:
    from google.auth import exceptions as auth_errors
    from google.genai import errors as genai_errors

    from shared.providers.vertex.adapter import build_client

    try:
        client = build_client(settings)
    except auth_errors.DefaultCredentialsError as exc:
        raise ProviderUnreachableError(f"Vertex AI credentials: {exc}") from exc

    def lookup(model: str) -> ProviderView:
        # The publisher-model resource, read raw through the SDK's own authenticated transport:
        # `client.models.get` parses it into `types.Model`, which drops fields it does not know.
        try:
            response = client._api_client.request("get", f"publishers/google/models/{model}", {})
        except genai_errors.ClientError as exc:
            if exc.code == 404:
                return ProviderView(False)
            return ProviderView(None, error=f"Vertex AI: {exc.code} {exc.message}")
        except (genai_errors.APIError, auth_errors.GoogleAuthError, OSError) as exc:
            return ProviderView(None, error=f"Vertex AI: {exc}")
        try:
            body = json.loads(response.body or "{}")
        except ValueError:
            body = {}
        return ProviderView(True, _parse_day(body.get("shutdownDate")))

    return lookup


def anthropic_lookup(settings: Settings) -> Callable[[str], ProviderView]:
    """Anthropic's `GET /v1/models` (paged), read once; each lookup is then local."""
    import anthropic

    from shared.providers.anthropic.adapter import resolve_endpoint

    endpoint = resolve_endpoint(settings)
    if endpoint is None:
        raise ProviderUnreachableError("no Anthropic endpoint configured (ANTHROPIC_API_KEY)")
    client = anthropic.Anthropic(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url,
        timeout=settings.anthropic_timeout_s,
        max_retries=1,
    )
    try:
        # `shutdown_date` is not in Anthropic's model object; the simulator adds it.
        listed = {
            m.id: _parse_day((m.model_extra or {}).get("shutdown_date"))
            for m in client.models.list()
        }
    except anthropic.APIError as exc:
        raise ProviderUnreachableError(f"Anthropic model list: {exc}") from exc

    def lookup(model: str) -> ProviderView:
        if model not in listed:
            return ProviderView(False)
        return ProviderView(True, listed[model])

    return lookup


LOOKUPS: dict[str, Callable[[Settings], Callable[[str], ProviderView]]] = {
    "openai": openai_lookup,
    "vertex": vertex_lookup,
    "anthropic": anthropic_lookup,
}
