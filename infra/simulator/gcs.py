"""The local Cloud Storage emulator, as Vertex AI's service agent uses the project's buckets:
the size of a `fileData` object, a batch job's input read and its predictions written.

Plain JSON API calls (httpx), so the simulator needs no storage library. The emulator is found
through STORAGE_EMULATOR_HOST (what `aiexec up` exports and google-cloud-storage reads), at the
time of each call, so a test can point one simulator at its own emulator.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

import httpx

from shared.errors import AIExecError

TIMEOUT_S = 10.0


class StorageError(AIExecError):
    """The object cannot be read or written (no emulator, no bucket, no object)."""


def split_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/name` -> (bucket, name); StorageError for anything else."""
    parts = urlsplit(uri)
    name = parts.path.removeprefix("/")
    if parts.scheme != "gs" or not parts.netloc or not name:
        raise StorageError(f"not a gs://bucket/object URI: {uri}")
    return parts.netloc, name


def _host() -> str:
    host = os.environ.get("STORAGE_EMULATOR_HOST")
    if not host:
        raise StorageError("no Cloud Storage emulator (STORAGE_EMULATOR_HOST is not set)")
    return host.rstrip("/")


def _object_url(uri: str, *, media: bool) -> str:
    bucket, name = split_uri(uri)
    url = f"{_host()}/storage/v1/b/{bucket}/o/{quote(name, safe='')}"
    return url + "?alt=media" if media else url


def _call(
    method: str,
    url: str,
    uri: str,
    *,
    params: dict[str, str] | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    try:
        response = httpx.request(
            method,
            url,
            params=params,
            content=content,
            headers=headers,
            timeout=TIMEOUT_S,
            trust_env=False,
        )
    except httpx.HTTPError as error:
        raise StorageError(f"cannot reach Cloud Storage for {uri}: {error}") from error
    if response.status_code != 200:
        raise StorageError(f"Cloud Storage answered {response.status_code} for {uri}")
    return response


def object_size(uri: str) -> int:
    return int(_call("GET", _object_url(uri, media=False), uri).json().get("size", 0))


def read_object(uri: str) -> bytes:
    return _call("GET", _object_url(uri, media=True), uri).content


def write_object(uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    # Not application/jsonl: the emulator parses any application/json* upload as one document.
    bucket, name = split_uri(uri)
    url = f"{_host()}/upload/storage/v1/b/{bucket}/o"
    params = {"uploadType": "media", "name": name}
    headers = {"Content-Type": content_type}
    _call("POST", url, uri, params=params, content=data, headers=headers)
