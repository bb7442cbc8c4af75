"""An independent oracle: schemathesis, with every check it has, against the live ingest.

It reads the OpenAPI document the ingest function serves (`GET /openapi.json`, with this
deployment's providers and limits) and generates requests from it — valid ones, which must be
accepted and answered as documented, and invalid ones, which must be refused — plus wrong
methods, missing parameters and call sequences (create, then read). Nothing here was written by
hand to match the server, so it finds what our own tests assume away.

A fixed seed and a bounded number of examples per operation keep the run reproducible and about a
minute long. `tests/fuzz/schemathesis.toml` holds the adjustments, with their reasons, and
`tests/fuzz/hooks.py` the one check that replaces schemathesis' own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.auth import KeyStore
from shared.store import TaskStore

CONFIG = Path(__file__).with_name("schemathesis.toml")
REPO = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = 20261129
MAX_EXAMPLES = 30


def auth_headers(stack: Any) -> list[str]:
    """`-H` arguments for a stack that requires API keys (the default stack does not)."""
    if not stack.settings.api_keys_required:
        return []
    keys = KeyStore(stack.settings, lambda: TaskStore(stack.settings).client)
    key, _record = keys.create("schemathesis", rate=None)
    return ["--header", f"Authorization: Bearer {key}"]


def test_schemathesis_finds_no_failure(stack: Any, tmp_path: Path) -> None:
    argv = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run",
        f"{stack.ingest_url}/openapi.json",
        "--checks", "all",
        "--exclude-checks", "positive_data_acceptance",  # replaced by hooks.py's check
        "--seed", str(SEED),
        "--max-examples", str(MAX_EXAMPLES),
        "--generation-database", "none",  # nothing carried over from earlier runs
        "--request-timeout", "90",  # POST / and ?wait=N hold a request until the task ends
        "--output-sanitize", "false",  # it would hide `max_output_tokens` ("token")
        "--no-color",
        *auth_headers(stack),
    ]  # fmt: skip
    env = os.environ | {"SCHEMATHESIS_HOOKS": "tests.fuzz.hooks", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    start = output.find("= SUMMARY =")
    summary = output[output.rfind("\n", 0, start) + 1 :] if start >= 0 else output
    print(summary)
    assert done.returncode == 0, output[-30_000:]
    assert "No issues found" in summary, summary


def test_the_served_document_names_the_stack_providers(stack: Any) -> None:
    """What schemathesis generates from: the configured providers, as enums."""
    document = httpx.get(f"{stack.ingest_url}/openapi.json", timeout=10).json()
    request = document["components"]["schemas"]["TaskRequest"]["properties"]
    assert request["providers"]["items"]["enum"] == stack.settings.providers
    assert request["model"]["propertyNames"]["enum"] == stack.settings.providers
