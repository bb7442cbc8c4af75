"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by test_schemathesis.py).

One check replaces schemathesis' `positive_data_acceptance`. It keeps that check's rule — a
request the OpenAPI document calls valid must not be refused — with one stated exception: a
refusal for a reason an OpenAPI schema cannot express, on the field it concerns, with its
documented code (docs/contract.md):

- `response_schema`: the subset every provider enforces has rules across keywords (every
  property listed in `required`, `additionalProperties: false` on every object) and the
  2020-12 metaschema's own rules;
- `messages`: the order of roles (system first, turns starting and ending with `user`, no
  `system` field beside a system message) and the characters of all messages together;
- `callback_url`: where its host resolves to (a public address in production);
- `attachments` and the file parts of `messages`: whether the object exists, its size, and
  whether a URL's host is a valid host name;
- `deadline_s` of a `mode: batch` task: at least 3600, a bound across two fields, stated in the
  `mode` description (an `anyOf` beside the request's `oneOf` stated it first; with it, this run
  went past its 600 s limit on a loaded machine, without it 8 minutes on the same machine).

- the body as a whole: the hostile-input guard's count of fields and items.

Any other refusal of schema-valid data still fails the run, as does one of these codes on
another field.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.checks import CheckContext
from schemathesis.openapi.checks import RejectedPositiveData

ACCEPTED = ("2xx", "3xx", "401", "403", "404", "409", "429", "5xx")
# (status, error code, the field it names or a prefix of it)
STATED_REASONS = (
    (400, "unsupported_schema", "response_schema"),
    (400, "invalid_schema", "response_schema"),
    (413, "too_large", "response_schema"),
    (400, "invalid_character", "response_schema"),  # a NUL in a key of the schema
    (400, "invalid_field", "messages"),
    (400, "exclusive_fields", "messages"),
    (413, "too_large", "messages"),
    (400, "invalid_field", "system"),  # `system` beside a system message
    (400, "invalid_field", "callback_url"),
    (400, "attachment_unreadable", "attachments"),
    (400, "attachment_too_large", "attachments"),
    # The fields and items of the whole body together (AIEXEC_MAX_JSON_MEMBERS), a count no
    # schema states; a conversation at its schema maxima (messages x parts) passes it.
    (400, "too_many_fields", ""),
    (413, "too_many_fields", ""),
    (400, "attachment_unreadable", "messages"),  # a file part of a message
    (400, "attachment_too_large", "messages"),
    # a URL the pattern admits whose host is not a valid host name (IDNA, brackets)
    (400, "unsupported_attachment", "attachments"),
    (400, "unsupported_attachment", "messages"),
    # AIEXEC_MAX_ATTACHMENTS counts `attachments` and the file parts of messages together.
    (400, "too_many_attachments", "attachments"),
    (400, "too_many_attachments", "messages"),
    (400, "invalid_field", "deadline_s"),  # under 3600 with mode batch
)


def _accepted(status: int) -> bool:
    return 200 <= status < 400 or status in (401, 403, 404, 409, 429) or status >= 500


def _problem(response: Any) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return "", ""
    return str(error.get("code") or ""), str(error.get("field") or "")


@schemathesis.check
def positive_data_accepted_unless_for_a_stated_reason(
    ctx: CheckContext, response: Any, case: Any
) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or _accepted(response.status_code):
        return None
    code, field = _problem(response)
    for status, stated_code, prefix in STATED_REASONS:
        if response.status_code == status and code == stated_code and field.startswith(prefix):
            return True
    raise RejectedPositiveData(
        operation=case.operation.label,
        message="Valid data should have been accepted (or refused for a reason the schema "
        f"cannot state)\nExpected: {', '.join(ACCEPTED)}\nGot: {code} on {field or '-'}",
        status_code=response.status_code,
        allowed_statuses=list(ACCEPTED),
    )
