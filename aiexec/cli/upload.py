"""`aiexec upload FILE [--bucket B] [--name OBJECT] [--content-type T]`: put a file in Cloud
Storage (the local stack's emulator, or a real bucket) and print its `gs://` URI, ready for
`aiexec submit --attach`."""

from __future__ import annotations

import argparse
import hashlib
import mimetypes
import sys
from pathlib import Path
from typing import Any

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from infra.settings import get_settings

_CHUNK = 1 << 20


def register(subparsers: Any) -> None:
    upload = subparsers.add_parser(
        "upload",
        help="upload a file to Cloud Storage and print its gs:// URI (for --attach)",
        description="Upload FILE to Cloud Storage (the local stack's emulator when "
        "STORAGE_EMULATOR_HOST is set, as `aiexec up` exports it) and print gs://BUCKET/OBJECT.",
    )
    upload.add_argument("file", type=Path, metavar="FILE")
    upload.add_argument(
        "--bucket", metavar="B", help="bucket (default: AIEXEC_STORAGE_BUCKET, the local one)"
    )
    upload.add_argument(
        "--name",
        metavar="OBJECT",
        help="object name (default: uploads/<first 16 hex of the SHA-256>/<file name>)",
    )
    upload.add_argument(
        "--content-type", metavar="T", help="MIME type (default: guessed from the file name)"
    )
    upload.set_defaults(func=cmd_upload)


def default_object_name(path: Path) -> str:
    """Content-addressed, so uploading the same file twice gives the same URI."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return f"uploads/{digest.hexdigest()[:16]}/{path.name}"


def cmd_upload(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"aiexec upload: {path} is not a readable file", file=sys.stderr)
        return EXIT_USAGE
    content_type = args.content_type or mimetypes.guess_type(path.name)[0]
    if content_type is None:
        print(
            f"aiexec upload: cannot tell the MIME type of {path.name}; give --content-type",
            file=sys.stderr,
        )
        return EXIT_USAGE
    bucket_name = args.bucket or get_settings().storage_bucket
    name = args.name or default_object_name(path)
    # Imported here: the other commands do not pay for the storage client's import.
    from google.api_core import exceptions as api_exceptions
    from google.cloud.storage import Client as StorageClient

    try:
        client = StorageClient(project=get_settings().project_id)
        blob = client.bucket(bucket_name).blob(name)
        blob.upload_from_filename(str(path), content_type=content_type)
    except api_exceptions.NotFound:
        print(f"aiexec upload: bucket {bucket_name} does not exist", file=sys.stderr)
        return EXIT_FAILED
    except api_exceptions.GoogleAPICallError as exc:
        print(f"aiexec upload: Cloud Storage refused the upload: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, api_exceptions.RetryError) as exc:  # connection refused, DNS, timeouts
        print(f"aiexec upload: cannot reach Cloud Storage: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(f"gs://{bucket_name}/{name}")
    return EXIT_OK
