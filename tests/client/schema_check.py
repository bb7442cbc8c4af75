"""A small JSON Schema (2020-12 subset) checker for the OpenAPI document's schemas.

The project has no JSON Schema library; this covers exactly the keywords `SUPPORTED` lists, and
the OpenAPI test fails if the document uses any other, so a check can never pass by ignoring a
keyword it does not know.
"""

from __future__ import annotations

import re
from typing import Any

SUPPORTED = frozenset(
    {
        "$ref", "type", "enum", "const", "required", "properties", "additionalProperties",
        "items", "minItems", "uniqueItems", "minimum", "maximum", "minLength", "maxLength",
        "pattern", "oneOf", "anyOf", "maxProperties", "propertyNames", "not",
        # annotations: no effect on validity
        "description", "format", "example", "examples", "title", "default",
    }
)  # fmt: skip
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def keywords(schema: Any, found: set[str] | None = None) -> set[str]:
    """Every keyword used anywhere in `schema` (property names excluded)."""
    found = set() if found is None else found
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key == "properties":
                for sub in value.values():
                    keywords(sub, found)
            elif key in ("items", "additionalProperties", "propertyNames", "not"):
                keywords(value, found)
            elif key in ("oneOf", "anyOf"):
                for sub in value:
                    keywords(sub, found)
    return found


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[kind])


def errors(
    value: Any, schema: dict[str, Any], document: dict[str, Any], at: str = "$"
) -> list[str]:
    """Why `value` does not match `schema` (empty: it matches); `$ref`s resolve in `document`."""
    if "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return errors(value, target, document, at)
    problems: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            return [f"{at}: {value!r:.60} is not {' or '.join(kinds)}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{at}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "not" in schema and not errors(value, schema["not"], document, at):
        problems.append(f"{at}: {value!r:.60} matches a schema it must not match")
    for key in ("oneOf", "anyOf"):
        if key in schema:
            matches = sum(not errors(value, sub, document, at) for sub in schema[key])
            if matches == 0 or (key == "oneOf" and matches > 1):
                problems.append(f"{at}: {matches} of the {key} alternatives match")
    if isinstance(value, dict):
        problems += _object(value, schema, document, at)
    elif isinstance(value, list):
        problems += _array(value, schema, document, at)
    elif isinstance(value, str):
        problems += _string(value, schema, at)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{at}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{at}: {value} > {schema['maximum']}")
    return problems


def _object(
    value: dict[str, Any], schema: dict[str, Any], doc: dict[str, Any], at: str
) -> list[str]:
    problems = [f"{at}: missing {name}" for name in schema.get("required", []) if name not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        problems.append(f"{at}: more than {schema['maxProperties']} properties")
    if "propertyNames" in schema:
        for name in value:
            problems += errors(name, schema["propertyNames"], doc, f"{at}.{name} (name)")
    for name, item in value.items():
        if name in properties:
            problems += errors(item, properties[name], doc, f"{at}.{name}")
        elif extra is False:
            problems.append(f"{at}: unexpected property {name}")
        elif isinstance(extra, dict):
            problems += errors(item, extra, doc, f"{at}.{name}")
    return problems


def _array(value: list[Any], schema: dict[str, Any], doc: dict[str, Any], at: str) -> list[str]:
    problems = []
    if len(value) < schema.get("minItems", 0):
        problems.append(f"{at}: fewer than {schema['minItems']} items")
    if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
        problems.append(f"{at}: items are not unique")
    for index, item in enumerate(value):
        if "items" in schema:
            problems += errors(item, schema["items"], doc, f"{at}[{index}]")
    return problems


def _string(value: str, schema: dict[str, Any], at: str) -> list[str]:
    problems = []
    if len(value) < schema.get("minLength", 0):
        problems.append(f"{at}: shorter than {schema['minLength']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(f"{at}: longer than {schema['maxLength']}")
    if "pattern" in schema and not re.search(_ecma(schema["pattern"]), value):
        problems.append(f"{at}: {value!r:.60} does not match {schema['pattern']}")
    return problems


def _ecma(pattern: str) -> str:
    """JSON Schema patterns are ECMA-262: a final `$` is the end of the text, where Python's
    also matches before a final newline (`\\Z` is Python's end of text)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + r"\Z"
    return pattern
