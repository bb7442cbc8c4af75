"""Reading ingest's HTTP answers: the JSON body of a success, or the refusal as
`RequestRefusedError` with ingest's problem and its `Retry-After`."""

from __future__ import annotations

from typing import Any

import httpx

from aiexec.client.errors import RequestRefusedError
from shared.schemas import FieldProblem

MAX_RETRY_WAIT_S = 30.0


def retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers["Retry-After"]), MAX_RETRY_WAIT_S)
    except (KeyError, ValueError):
        return None


def answer_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a success, or `RequestRefusedError` with ingest's problem."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code < 400 and isinstance(data, dict):
        return data
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and "code" in error and "message" in error:
        problem = FieldProblem.model_validate(error)
    else:
        text = response.text[:200] or response.reason_phrase
        problem = FieldProblem(code=f"http_{response.status_code}", message=text)
    raise RequestRefusedError(response.status_code, problem, retry_after(response))
