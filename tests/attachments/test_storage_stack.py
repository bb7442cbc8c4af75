"""The local stack's Cloud Storage emulator and `aiexec upload`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.cloud.storage import Client as StorageClient

from tests.attachments.conftest import png_bytes
from tests.client.helpers import Cli


def test_the_stack_exports_the_emulator_and_creates_its_bucket(stack: Any) -> None:
    assert stack.env["STORAGE_EMULATOR_HOST"] == f"http://127.0.0.1:{stack.settings.storage_port}"
    client = StorageClient(project=stack.settings.project_id)
    assert client.bucket(stack.settings.storage_bucket).exists()


def test_upload_prints_a_gs_uri_of_the_file(stack: Any, cli: Cli, tmp_path: Path) -> None:
    image = tmp_path / "pixel.png"
    image.write_bytes(png_bytes())
    run = cli("upload", str(image))
    assert run.code == 0, run.err
    uri = run.out.strip()
    bucket = stack.settings.storage_bucket
    assert uri.startswith(f"gs://{bucket}/uploads/") and uri.endswith("/pixel.png")
    assert cli("upload", str(image)).out.strip() == uri  # content-addressed: same file, same URI
    blob = (
        StorageClient(project=stack.settings.project_id)
        .bucket(bucket)
        .get_blob(uri.removeprefix(f"gs://{bucket}/"))
    )
    assert blob is not None
    assert blob.content_type == "image/png" and blob.download_as_bytes() == png_bytes()


def test_upload_refuses_what_it_cannot_type_or_find(stack: Any, cli: Cli, tmp_path: Path) -> None:
    odd = tmp_path / "notes.unknownext"
    odd.write_bytes(b"x")
    assert cli("upload", str(odd)).code == 2
    assert cli("upload", str(tmp_path / "missing.png")).code == 2
    image = tmp_path / "pixel.png"
    image.write_bytes(png_bytes())
    run = cli("upload", str(image), "--bucket", "no-such-bucket-aiexec")
    assert run.code == 1 and "does not exist" in run.err
    run = cli("upload", str(odd), "--content-type", "application/pdf", "--name", "a/b.pdf")
    assert run.code == 0 and run.out.strip() == f"gs://{stack.settings.storage_bucket}/a/b.pdf"
