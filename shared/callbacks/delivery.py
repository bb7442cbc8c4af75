"""One callback POST and what its answer means (Standard Webhooks' "delivery success and
failure": 2xx is success, anything else a failure; redirects are not followed).

A receiver's 4xx (except 408 Request Timeout and 429 Too Many Requests) says the request itself
is wrong: final, never retried. 5xx, 408, 429, timeouts and connection errors may pass: retried.
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass

from shared.outbound_urls import PinnedUrl

USER_AGENT = "aiexec-callbacks/1"
RETRYABLE_4XX = (408, 429)
MAX_ANSWER_BYTES = 4096  # read and dropped: only the status matters


@dataclass(frozen=True)
class Answer:
    status: int | None  # the receiver's HTTP status; None when none came
    error: str | None = None  # `timeout`, `connection`, `tls` when no status came

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        if self.status is None:
            return True
        return self.status >= 500 or self.status in RETRYABLE_4XX


def post(pinned: PinnedUrl, headers: dict[str, str], body: bytes, timeout_s: float) -> Answer:
    """POST `body` to the checked address of `pinned`."""
    connection = pinned.connection(timeout_s)
    sent = headers | {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Content-Length": str(len(body)),
    }
    try:
        connection.request("POST", pinned.target, body=body, headers=sent)
        response = connection.getresponse()
        response.read(MAX_ANSWER_BYTES)
        return Answer(response.status)
    except TimeoutError:
        return Answer(None, "timeout")
    except ssl.SSLError:
        return Answer(None, "tls")
    except (OSError, http.client.HTTPException):
        return Answer(None, "connection")
    finally:
        connection.close()
