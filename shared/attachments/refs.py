"""Attachment references: `gs://bucket/object` and `https://host/path`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Cloud Storage bucket names: 3-63 characters (222 with dots), lower case, digits, `-_.`.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
GS = "gs"
HTTPS = "https"
HTTP = "http"


@dataclass(frozen=True)
class GcsObject:
    bucket: str
    name: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


def scheme(uri: str) -> str:
    # Not urlsplit: it raises on a malformed authority ("https://[x"), which the URL's own
    # check then refuses with the field named; the scheme is what precedes the first ':'.
    head, colon, _ = uri.partition(":")
    return head.lower() if colon else ""


def gcs_object(uri: str) -> GcsObject:
    """`gs://bucket/object` parsed; ValueError naming what is wrong."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != GS:
        raise ValueError("is not a gs:// URI")
    # Object names are literal in gs:// URIs (as gcloud storage writes them): no %-decoding.
    name = parts.path.removeprefix("/")
    if not _BUCKET_RE.fullmatch(parts.netloc) or ".." in parts.netloc:
        raise ValueError("must name a valid bucket: gs://bucket/object")
    if not name or parts.query or parts.fragment or "\n" in name or "\r" in name:
        raise ValueError("must name an object: gs://bucket/object")
    return GcsObject(parts.netloc, name)
