"""The OpenAPI document as this deployment serves it: `shared/data/openapi.json` with the values
that are settings filled in from the settings.

The file documents the defaults (two providers, `openai` and `vertex`; the default limits); the
ingest function serves it with the configured providers as `enum`s (on `providers` items and on
the keys of `model`: any other name is refused with 400) and the configured limits, so that a
client or a fuzzer generating requests from the document meets the server's real rules. Served
for a day (`today`), it also lists per provider the models a request may name (an `enum` of
exact names and a `pattern` of dated snapshots; shared/model_policy.py): which models are retired
depends on the date, so the file, which must not, carries the rule in words only.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.model_policy import allowed_models, snapshot_pattern
from shared.settings import IngestSettings

SPEC_PATH = Path(__file__).parent / "data" / "openapi.json"


@lru_cache(maxsize=1)
def _static() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return document


def render_openapi(settings: IngestSettings, today: date | None = None) -> dict[str, Any]:
    """The document with `settings`' providers and limits (a new object on every call); with
    `today`, the models allowed on each provider that day."""
    document = copy.deepcopy(_static())
    schemas = document["components"]["schemas"]
    request = schemas["TaskRequest"]["properties"]
    providers = list(settings.providers)
    request["providers"]["items"]["enum"] = providers
    request["model"]["propertyNames"]["enum"] = providers
    request["task_description"]["maxLength"] = settings.max_prompt_chars
    request["system"]["maxLength"] = settings.max_prompt_chars
    request["max_output_tokens"]["maximum"] = settings.max_output_tokens_limit
    request["deadline_s"]["maximum"] = _number(settings.max_task_deadline_s)
    for part in ("Attachment", "FilePart"):  # the types this deployment accepts
        schemas[part]["properties"]["mime_type"]["enum"] = list(settings.attachment_mime_types)
    if today is not None:
        request["model"]["properties"] = {
            provider: _model_schema(
                request["model"]["additionalProperties"], settings, provider, today
            )
            for provider in providers
        }
    schemas["Health"]["properties"]["providers"]["items"]["properties"]["name"]["enum"] = providers
    submit = document["paths"]["/tasks"]["post"]
    for parameter in submit["parameters"]:
        if parameter["name"] == "wait":
            parameter["schema"]["maximum"] = _number(settings.wait_max_s)
    # The full example names this deployment's providers and first provider's default model.
    example = submit["requestBody"]["content"]["application/json"]["examples"]["full"]["value"]
    example["providers"] = providers
    model = settings.default_model(providers[0])
    if model is not None:
        example["model"] = {providers[0]: model}
    else:
        example.pop("model", None)
    return document


def _model_schema(
    base: dict[str, Any], settings: IngestSettings, provider: str, today: date
) -> dict[str, Any]:
    """The names allowed on `provider`: exact ones, or a dated snapshot of a catalog model."""
    exact: dict[str, Any] = {"enum": allowed_models(settings, provider, today)}
    snapshots = snapshot_pattern(provider, today)
    return dict(base) | ({"anyOf": [exact, {"pattern": snapshots}]} if snapshots else exact)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def write_defaults() -> None:
    """Rewrite the file from itself with the default settings (after a default changed)."""
    document = render_openapi(IngestSettings.model_construct())
    SPEC_PATH.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    write_defaults()
