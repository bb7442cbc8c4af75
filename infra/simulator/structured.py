"""Structured output in the simulator: a deterministic answer that follows the request's JSON
Schema (the smallest instance, its strings taken from the prompt's digest), or, under the
`invalid-json` fault, one that does not.

Every dialect reads the schema from its own wire field and refuses, as a 400 in its own shape,
one outside the subset ingest accepts (shared/structured_output.py): the simulator stands for
the strictest provider, so a schema ingest let through but a provider would refuse shows here.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from shared.structured_output import SchemaProblemError, check_schema

# Set by the server around an answer given under the `invalid-json` fault (per request thread).
_INVALID = contextvars.ContextVar("sim_invalid_output", default=False)
# What the fault answers: JSON, but never an instance of an accepted schema (the root of which
# is always an object).
NON_CONFORMING = ["sim:invalid-json", "this answer does not follow the schema"]
_FORMATS = {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "time": "00:00:00Z"}


@contextlib.contextmanager
def invalid_output(active: bool) -> Iterator[None]:
    token = _INVALID.set(active)
    try:
        yield
    finally:
        _INVALID.reset(token)


def refusal(schema: Any) -> str | None:
    """Why a provider would refuse `schema` (None: it is accepted)."""
    if not isinstance(schema, dict):
        return "the schema must be a JSON object"
    try:
        check_schema(schema)
    except SchemaProblemError as problem:
        return str(problem).replace("response_schema", "schema", 1)
    return None


def answer_text(schema: dict[str, Any], seed: str) -> str:
    """The answer's text: an instance of `schema`, or a non-conforming one under the fault."""
    if _INVALID.get():
        return json.dumps(NON_CONFORMING)
    word = "sim-" + hashlib.sha256(seed.encode()).hexdigest()[:8]
    return json.dumps(instance(schema, schema.get("$defs") or {}, word), ensure_ascii=False)


def instance(schema: dict[str, Any], defs: dict[str, Any], word: str) -> Any:
    """The smallest value of `schema` (its first choice wherever there is one)."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = defs[ref.rsplit("/", 1)[-1]]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return instance(schema["anyOf"][0], defs, word)
    declared = schema.get("type", "null")
    kind = declared if isinstance(declared, str) else next(iter(declared), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: instance(sub, defs, word) for name, sub in properties.items()}
    scalars: dict[str, Any] = {"array": [], "integer": 0, "number": 0, "boolean": False}
    if kind == "string":
        return _FORMATS.get(str(schema.get("format")), word)
    return scalars.get(kind)
