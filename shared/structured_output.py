"""Structured output: which JSON Schemas a task may ask for, and whether an answer follows one.

Every provider enforces a schema natively (OpenAI structured outputs in strict mode, Gemini's
`response_json_schema`, Anthropic's `output_config.format`), but each accepts a different part
of JSON Schema and refuses or silently ignores the rest. A task may fall back to any provider of
its chain, so ingest accepts only the subset all three enforce (read 2026-11-30: OpenAI's
structured-outputs guide, "Supported schemas"; Anthropic's structured-outputs guide, "JSON
Schema limitations"; Google's Gemini structured-output guide, `response_json_schema`):

- the root is `{"type": "object", ...}` (OpenAI's rule);
- every object lists `properties`, all of them in `required`, and `additionalProperties: false`
  (OpenAI strict mode; Anthropic requires `additionalProperties: false` too); a property that
  may be absent is written as nullable instead: `"type": ["string", "null"]`;
- keywords: `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`, `anyOf`,
  `format` (`date-time`, `date`, `time`), `$defs` with local non-recursive `$ref`s, and the
  annotations `title`, `description` and (at the root) `$schema`;
- refused, because some provider cannot enforce it: numeric and length bounds (`minimum`,
  `maxLength`, `minItems`, ...: Anthropic), `pattern` (Gemini ignores it), `const`, `default`,
  `oneOf`, `allOf`, `not`, conditionals, `patternProperties`, tuple `prefixItems`, recursion.

Two rules come from where the answer is kept, Firestore: an array may not hold arrays directly,
and property names may not look like `__name__`. The worker validates every answer
(`parse_answer`) whatever the provider promised: constrained decoding can still be cut short.
"""

from __future__ import annotations

import json
import re
from typing import Any

# jsonschema ships no type information and the lock holds no stubs for it.
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

from shared.errors import AIExecError

FIELD = "response_schema"
INVALID_OUTPUT = "invalid_output"  # the attempt's outcome and error code
INVALID_OUTPUT_RETRIES = 1  # an answer that does not validate is asked again once, then handed over
MAX_SCHEMA_CHARS = 32_000  # serialized; providers count the schema as prompt tokens
MAX_DEPTH = 8  # nested objects and arrays (Firestore maps nest at most 20 deep)
MAX_PROPERTIES = 256  # over the whole schema
MAX_ENUM_VALUES = 500
FORMATS = frozenset({"date-time", "date", "time"})
TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "anyOf",
     "format", "$ref", "title", "description"}
)  # fmt: skip
_ROOT_ONLY = frozenset({"$schema", "$defs"})
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_RESERVED_NAME = re.compile(r"__.*__", re.DOTALL)
_LOCAL_REF = re.compile(r"^#/\$defs/([^/~]+)$")


class SchemaProblemError(AIExecError, ValueError):
    """A response schema ingest refuses; `field` names the offending place."""

    def __init__(self, field: str, message: str, code: str = "unsupported_schema") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code  # unsupported_schema, invalid_schema or too_large


def check_schema(schema: dict[str, Any]) -> None:
    """Refuse (SchemaProblemError) a schema that is invalid, too large, or not in the subset."""
    size = len(json.dumps(schema, separators=(",", ":")))
    if size > MAX_SCHEMA_CHARS:
        raise SchemaProblemError(
            FIELD, f"is {size} characters long; the limit is {MAX_SCHEMA_CHARS}", "too_large"
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = _path(FIELD, list(error.path))
        raise SchemaProblemError(
            where, f"not a valid JSON Schema: {error.message}", "invalid_schema"
        ) from error
    if schema.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
        raise SchemaProblemError(f"{FIELD}.$schema", f"only {_DRAFT_2020_12} is supported")
    if schema.get("type") != "object":
        raise SchemaProblemError(f"{FIELD}.type", 'the root must be {"type": "object"}')
    defs = schema.get("$defs") or {}
    _Checker(defs).node(schema, FIELD, depth=0, root=True)
    for name, sub in defs.items():
        _Checker(defs).node(sub, f"{FIELD}.$defs.{name}", depth=0)


class _Checker:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.properties = 0
        self.resolving: list[str] = []

    def node(self, schema: Any, at: str, depth: int, root: bool = False) -> None:
        if not isinstance(schema, dict):
            raise SchemaProblemError(at, "must be a schema object (true/false are not supported)")
        if depth > MAX_DEPTH:
            raise SchemaProblemError(at, f"nests deeper than {MAX_DEPTH} levels")
        for key in schema:
            if key not in _KEYWORDS and not (root and key in _ROOT_ONLY):
                raise SchemaProblemError(f"{at}.{key}", _unsupported(key))
        if "$ref" in schema:
            self._ref(schema, at, depth)
            return
        types = _types(schema, at)
        if "format" in schema and schema["format"] not in FORMATS:
            allowed = ", ".join(sorted(FORMATS))
            raise SchemaProblemError(f"{at}.format", f"must be one of {allowed}")
        if "enum" in schema and len(schema["enum"]) > MAX_ENUM_VALUES:
            raise SchemaProblemError(f"{at}.enum", f"has more than {MAX_ENUM_VALUES} values")
        for index, option in enumerate(schema.get("anyOf", [])):
            self.node(option, f"{at}.anyOf.{index}", depth)
        if "object" in types or "properties" in schema:
            self._object(schema, at, depth)
        if "array" in types or "items" in schema:
            self._array(schema, at, depth)

    def _ref(self, schema: dict[str, Any], at: str, depth: int) -> None:
        match = _LOCAL_REF.match(str(schema["$ref"]))
        if len(schema) > 1 or not match or match.group(1) not in self.defs:
            raise SchemaProblemError(
                f"{at}.$ref", "must be the only keyword and point into this schema's $defs"
            )
        name = match.group(1)
        if name in self.resolving:
            raise SchemaProblemError(f"{at}.$ref", "recursive schemas are not supported")
        self.resolving.append(name)
        self.node(self.defs[name], at, depth)
        self.resolving.pop()

    def _object(self, schema: dict[str, Any], at: str, depth: int) -> None:
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            raise SchemaProblemError(f"{at}.properties", "an object must list its properties")
        if schema.get("additionalProperties") is not False:
            raise SchemaProblemError(
                f"{at}.additionalProperties", "must be false (strict mode: no unlisted keys)"
            )
        missing = [name for name in properties if name not in schema.get("required", [])]
        if missing:
            raise SchemaProblemError(
                f"{at}.required",
                f"must list every property (missing {', '.join(missing)}); "
                'make an optional one nullable: "type": ["string", "null"]',
            )
        self.properties += len(properties)
        if self.properties > MAX_PROPERTIES:
            raise SchemaProblemError(at, f"the schema has more than {MAX_PROPERTIES} properties")
        for name, sub in properties.items():
            if _RESERVED_NAME.fullmatch(name) or not name:
                raise SchemaProblemError(
                    f"{at}.properties.{name}", "names of the form __name__ cannot be stored"
                )
            self.node(sub, f"{at}.properties.{name}", depth + 1)

    def _array(self, schema: dict[str, Any], at: str, depth: int) -> None:
        items = schema.get("items")
        if items is None:
            raise SchemaProblemError(f"{at}.items", "an array must say what its items are")
        if "array" in _reachable_types(items, self.defs):
            raise SchemaProblemError(
                f"{at}.items", "an array of arrays cannot be stored (Firestore); wrap the inner one"
            )
        self.node(items, f"{at}.items", depth + 1)


def _types(schema: dict[str, Any], at: str) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        if "anyOf" in schema or "enum" in schema:
            return set()
        raise SchemaProblemError(f"{at}.type", "is required (or anyOf, or enum)")
    types = {declared} if isinstance(declared, str) else set(declared)
    return types


def _reachable_types(schema: Any, defs: dict[str, Any], seen: int = 0) -> set[str]:
    """The types a value of `schema` may have (through anyOf and $ref)."""
    if not isinstance(schema, dict) or seen > 32:
        return set()
    match = _LOCAL_REF.match(str(schema.get("$ref", "")))
    if match:
        return _reachable_types(defs.get(match.group(1)), defs, seen + 1)
    declared = schema.get("type", [])
    found = {declared} if isinstance(declared, str) else set(declared)
    for option in schema.get("anyOf", []):
        found |= _reachable_types(option, defs, seen + 1)
    return found


def _unsupported(key: str) -> str:
    return (
        f"the keyword {key} is not supported: not every provider of the chain can enforce it "
        "(see docs/contract.md, Structured output)"
    )


def _path(base: str, parts: list[Any]) -> str:
    return ".".join([base, *(str(part) for part in parts)])


def structured_answer(schema: dict[str, Any] | None, text: str) -> tuple[Any, str | None]:
    """(None, None) without a schema, else `parse_answer`."""
    return (None, None) if schema is None else parse_answer(text, schema)


def parse_answer(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """The answer parsed, or None and why it does not follow `schema` (a sentence naming the
    first place that fails, without the answer's own content)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"the answer is not JSON ({error.msg} at character {error.pos})"
    errors = sorted(_validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = _path("$", list(first.absolute_path))
        return None, f"the answer does not follow the schema at {where} ({first.validator})"
    return value, None


def _validator(schema: dict[str, Any]) -> Any:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
