"""`aiexec dashboard`: prints the status page's address and hands it to a browser (here a script
named by `BROWSER`, which is how Python's webbrowser finds one); no browser is not an error;
with `$AIEXEC_API_KEY` it reads the page with the key and opens a local copy.
"""

from __future__ import annotations

import json
import stat
import time
import webbrowser
from pathlib import Path
from typing import Any

import pytest

from aiexec.cli.main import main
from infra.settings import get_settings
from tests.client.helpers import Cli

WAIT_S = 10.0


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `BROWSER` that records what it was asked to open (in `opened.txt`)."""
    record = tmp_path / "opened.txt"
    script = tmp_path / "fake-browser"
    script.write_text(
        f'#!/bin/sh\nprintf %s "$1" > "{record}.tmp" && mv "{record}.tmp" "{record}"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    _only_browser(monkeypatch, str(script))
    return record


def _only_browser(monkeypatch: pytest.MonkeyPatch, command: str | None) -> None:
    """webbrowser reads the environment once per process: make it read it again, with no
    display (no desktop browser) and `BROWSER` = `command` (or none)."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "TERM"):
        monkeypatch.delenv(name, raising=False)
    if command is None:
        monkeypatch.delenv("BROWSER", raising=False)
    else:
        monkeypatch.setenv("BROWSER", command)
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})


def opened(record: Path) -> str:
    """What the browser script received (it runs in the background: wait for it, bounded)."""
    deadline = time.monotonic() + WAIT_S
    while not record.exists():
        assert time.monotonic() < deadline, "the browser was never started"
        time.sleep(0.05)
    return record.read_text()


def test_dashboard_opens_the_status_page(cli: Cli, stack: Any, browser: Path) -> None:
    run = cli("dashboard", "--json")
    assert run.code == 0, run.err
    answer = json.loads(run.out)
    url = f"{stack.ingest_url.rstrip('/')}/status"
    assert answer == {"url": url, "opened": True, "copy": None}
    assert opened(browser) == url


def test_with_an_api_key_it_opens_a_copy_read_with_the_key(
    cli: Cli, browser: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIEXEC_API_KEY", "aiexec_test_key_not_checked_by_the_local_stack")
    run = cli("dashboard")
    assert run.code == 0, run.err
    assert "needs the API key" in run.out
    target = opened(browser)
    assert target.startswith("file://") and target.endswith("/status.html")
    copy = Path(target.removeprefix("file://"))
    assert "<h1>AI Execution System - status</h1>" in copy.read_text()


def test_no_browser_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _only_browser(monkeypatch, None)
    monkeypatch.setenv("AIEXEC_STATE_DIR", str(tmp_path))  # no local stack's settings
    monkeypatch.setenv("AIEXEC_INGEST_URL", "http://127.0.0.1:9/")
    monkeypatch.delenv("AIEXEC_API_KEY", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["dashboard"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "status page: http://127.0.0.1:9/status" in out
    assert "no browser available" in out
