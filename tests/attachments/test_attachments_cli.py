"""Attachments from the command line and the Python client against the session stack:
`aiexec upload` then `aiexec submit --attach`, JSONL and CSV task files, `submit(attachments=)`;
how a client writes an attachment (URI typed by its name, or TYPE@URI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiexec.cli.main import EXIT_OK, EXIT_USAGE
from aiexec.client import AIExecClient
from aiexec.client.attachments import attachment
from aiexec.client.files import csv_request
from tests.attachments.conftest import pdf_bytes, png_bytes
from tests.client.helpers import Cli, unique


def upload(cli: Cli, path: Path, data: bytes) -> str:
    path.write_bytes(data)
    run = cli("upload", str(path))
    assert run.code == EXIT_OK, run.err
    return run.out.strip()


def test_upload_then_submit_with_attach(cli: Cli, tmp_path: Path) -> None:
    image = upload(cli, tmp_path / "chart.png", png_bytes(12, 12))
    report = upload(cli, tmp_path / "report.pdf", pdf_bytes(1))
    task_id = unique("cli-attach")
    run = cli("submit", "What do these show?", "--attach", image, "--attach",
              f"application/pdf@{report}", "--id", task_id, "--wait", "60", "--json")  # fmt: skip
    assert run.code == EXIT_OK, run
    task = json.loads(run.out)
    assert task["status"] == "succeeded"
    assert task["request"]["attachments"] == [
        {"uri": image, "mime_type": "image/png"},
        {"uri": report, "mime_type": "application/pdf"},
    ]


def test_submit_refuses_what_it_cannot_type_or_what_ingest_cannot_read(
    cli: Cli, stack: Any
) -> None:
    bucket = stack.settings.storage_bucket
    untyped = cli("submit", "x", "--attach", f"gs://{bucket}/no-extension")
    assert untyped.code == EXIT_USAGE and "TYPE@URI" in untyped.err
    missing = cli("submit", "x", "--attach", f"gs://{bucket}/nothing/here.png")
    assert missing.code == EXIT_USAGE and "attachment_unreadable" in missing.err
    assert cli("submit", "--file", "t.jsonl", "--attach", f"gs://{bucket}/a.png").code == EXIT_USAGE


def test_task_files_carry_attachments(cli: Cli, tmp_path: Path) -> None:
    image = upload(cli, tmp_path / "dot.png", png_bytes(2, 2))
    prefix = unique("cli-attach-file")
    lines = tmp_path / "tasks.jsonl"
    typed = {"uri": image, "mime_type": "image/png"}
    lines.write_text(json.dumps({"task_id": f"{prefix}-j", "task_description": "Look",
                                 "attachments": [typed]}) + "\n")  # fmt: skip
    table = tmp_path / "tasks.csv"
    table.write_text(f"task_id,task_description,attachments\n{prefix}-c,Look,{image}\n")
    for path in (lines, table):
        run = cli("submit", "--file", str(path), "--wait", "60", "--quiet")
        assert run.code == EXIT_OK, run.out + run.err
    for suffix in ("j", "c"):
        task = json.loads(cli("get", f"{prefix}-{suffix}", "--json").out)
        assert task["status"] == "succeeded" and task["request"]["attachments"] == [typed]


def test_the_python_client_attaches_files(stack: Any, tmp_path: Path, cli: Cli) -> None:
    image = upload(cli, tmp_path / "client.png", png_bytes(3, 3))
    with AIExecClient(stack.settings, client_id="tests") as client:
        submitted = client.submit({"task_description": "What is it?"}, attachments=[image],
                                  wait_s=60)  # fmt: skip
    assert submitted is not None and submitted.task is not None
    assert submitted.task.status == "succeeded"


def test_how_a_client_writes_an_attachment() -> None:
    assert attachment("gs://b/x/scan.pdf") == {
        "uri": "gs://b/x/scan.pdf",
        "mime_type": "application/pdf",
    }
    assert attachment("https://h/p.webp?sig=1")["mime_type"] == "image/webp"
    assert attachment("image/png@gs://b/blob") == {"uri": "gs://b/blob", "mime_type": "image/png"}
    assert attachment({"uri": "gs://b/o", "mime_type": "image/gif"})["mime_type"] == "image/gif"
    with pytest.raises(ValueError, match="TYPE@URI"):
        attachment("gs://b/blob")
    assert csv_request({"attachments": "gs://b/a.png; image/jpeg@gs://b/c"}) == {
        "attachments": [
            {"uri": "gs://b/a.png", "mime_type": "image/png"},
            {"uri": "gs://b/c", "mime_type": "image/jpeg"},
        ]
    }
    as_json = '[{"uri": "gs://b/a", "mime_type": "application/pdf"}]'
    assert csv_request({"attachments": as_json})["attachments"][0]["uri"] == "gs://b/a"
    with pytest.raises(ValueError, match="TYPE@URI"):
        csv_request({"attachments": "gs://b/untyped"})
