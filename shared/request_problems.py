"""How a refused request is described to its sender: the first pydantic validation error as a
`FieldProblem` (a stable code, a message naming the field), and the task id of a body that did
not parse, when it is safe to echo."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from shared.schemas import RESERVED_FIELD_CODE, FieldProblem, check_task_id

# Codes a validator gives itself (through `named_problem`), passed to the client as they are.
_OWN_CODES = frozenset({"too_large", "invalid_schema", "unsupported_schema"})
_CODES = {
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
    "string_too_short": "empty_field",
    "json_invalid": "invalid_json",
    RESERVED_FIELD_CODE: RESERVED_FIELD_CODE,
}


def describe_validation_error(error: ValidationError) -> FieldProblem:
    """The first problem of a validation error, phrased for the client, naming the field."""
    first: dict[str, Any] = dict(_first_error(error))
    # A dict key's own error ends in "[key]": the key names the field well enough.
    loc = ".".join(str(part) for part in _plain_loc(first.get("loc", ())) if part != "[key]")
    kind = str(first.get("type", "invalid"))
    named = (first.get("ctx") or {}).get("named_field")
    if isinstance(named, str):  # an error that names its own place (named_problem)
        code = kind if kind in _OWN_CODES else _CODES.get(kind, "invalid_field")
        return FieldProblem(code=code, message=str(first.get("msg")), field=named)
    code = _CODES.get(kind, "invalid_field")
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = "is not a known field"
    elif kind == "missing":
        message = "is required"
    if "the limit is" in message and "characters" in message:
        code = "too_large"
    text = f"{loc}: {message}" if loc else message
    return FieldProblem(code=code, message=text, field=loc or None)


# The errors pydantic reports for the branch of `content: str | list[parts]` the input did not
# take: the other branch's error says what is wrong.
_BRANCH_MISMATCH = {"string_type", "list_type"}


def _first_error(error: ValidationError) -> Any:
    errors = error.errors(include_url=False)
    first_loc = errors[0].get("loc", ())
    for candidate in errors:
        same_field = _plain_loc(candidate.get("loc", ()))[:2] == _plain_loc(first_loc)[:2]
        if same_field and candidate.get("type") not in _BRANCH_MISMATCH:
            return candidate
    return errors[0]


def _plain_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """`messages.0.content.list[...].1.file.uri` as a client reads it: `messages.0.content.1.uri`
    (pydantic names the union branch and the part's tag in the location)."""
    plain: list[int | str] = []
    for index, part in enumerate(loc):
        after_content = index >= 3 and loc[0] == "messages" and loc[2] == "content"
        branch = index == 3 and (part == "str" or str(part).startswith("list["))
        tag = index == 5 and part in ("text", "file")
        if after_content and (branch or tag):
            continue
        plain.append(part)
    return tuple(plain)


def readable_task_id(data: bytes) -> str | None:
    """A valid `task_id` from a message that failed validation, if it names one."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    candidate = value.get("task_id") if isinstance(value, dict) else None
    if not isinstance(candidate, str):
        return None
    try:
        return check_task_id(candidate)
    except ValueError:
        return None
