"""HTTPS attachments: through the outbound-URL guard (public addresses only in production, the
connection pinned to the checked address), no redirects, a timeout, a size bound."""

from __future__ import annotations

import http.client
import socket
import ssl

from shared.attachments.errors import (
    TOO_LARGE,
    UNREADABLE,
    AttachmentUnavailableError,
    AttachmentUnreadableError,
)
from shared.outbound_urls import OutboundUrlError, PinnedUrl, Resolver, check_url

_NETWORK_ERRORS = (OSError, http.client.HTTPException, socket.timeout, ssl.SSLError)
# Answers that say the file is not there for us (the URL is wrong, or private).
_GONE = frozenset({401, 403, 404, 410, 451})
_CHUNK = 64 * 1024


def pin(url: str, allow_private: bool, resolve: Resolver | None = None) -> PinnedUrl:
    try:
        return check_url(url, allow_private=allow_private, resolve=resolve)
    except OutboundUrlError as error:
        raise AttachmentUnreadableError(UNREADABLE, str(error)) from error


def head_size(pinned: PinnedUrl, timeout_s: float) -> int | None:
    """The Content-Length a HEAD reports (None: the server did not say or does not do HEAD)."""
    status, length, _ = _request(pinned, "HEAD", timeout_s, max_bytes=0)
    if status in (405, 501):  # no HEAD here: the worker's bounded GET decides
        return None
    return length


def read_url(pinned: PinnedUrl, max_bytes: int, timeout_s: float) -> bytes:
    _, _, data = _request(pinned, "GET", timeout_s, max_bytes=max_bytes)
    return data


def _request(
    pinned: PinnedUrl, method: str, timeout_s: float, max_bytes: int
) -> tuple[int, int | None, bytes]:
    connection = pinned.connection(timeout_s)
    try:
        connection.request(method, pinned.target, headers={"User-Agent": "aiexec-attachments"})
        response = connection.getresponse()
        status = response.status
        length = _length(response.getheader("Content-Length"))
        _check_status(status, method)
        if length is not None and length > max_bytes and method == "GET":
            raise AttachmentUnreadableError(TOO_LARGE, f"the file is over {max_bytes} bytes")
        data = _bounded(response, max_bytes) if method == "GET" else b""
    except _NETWORK_ERRORS as error:
        raise AttachmentUnavailableError(
            "attachment_unavailable", f"fetching the URL failed: {type(error).__name__}"
        ) from error
    finally:
        connection.close()
    return status, length, data


def _check_status(status: int, method: str) -> None:
    if 200 <= status < 300 or (method == "HEAD" and status in (405, 501)):
        return
    if status == 429 or status >= 500:
        raise AttachmentUnavailableError("attachment_unavailable", f"the URL answered {status}")
    reason = "a redirect (not followed)" if 300 <= status < 400 else str(status)
    gone = status in _GONE or 300 <= status < 400
    raise AttachmentUnreadableError(UNREADABLE, f"the URL answered {reason}" if gone else reason)


def _bounded(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise AttachmentUnreadableError(TOO_LARGE, f"the file is over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
