"""`aiexec dashboard`: the address of ingest's status page (`GET /status`), opened in a browser
when one is available.

A browser cannot send the API key ingest asks for when keys are required, so with
`$AIEXEC_API_KEY` set the command reads the page itself (the same request as the API's, the key
as a bearer header) and opens a local copy instead (`<state dir>/status.html`). Without a key
(the local stack) the browser opens the address directly. No browser (a server, CI) is never
an error: the address is printed either way.
"""

from __future__ import annotations

import argparse
import json
import os
import webbrowser
from pathlib import Path
from typing import Any

import httpx

from aiexec.cli.main import EXIT_OK, EXIT_UNREACHABLE
from aiexec.client import API_KEY_ENV
from infra.settings import get_settings

FETCH_TIMEOUT_S = 30.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard", help="print the status page's address and open it in a browser"
    )
    parser.add_argument(
        "--no-open", action="store_true", help="only print the address (no browser)"
    )
    parser.add_argument("--json", action="store_true", help="print {url, opened, copy} as JSON")
    parser.set_defaults(func=cmd_dashboard)


def status_url(ingest_url: str) -> str:
    return f"{ingest_url.rstrip('/')}/status"


def open_in_browser(target: str) -> bool:
    """True if a browser took `target`; False (never an exception) when there is none."""
    try:
        return bool(webbrowser.open(target, new=2))
    except webbrowser.Error:
        return False


def fetch_copy(url: str, key: str, state_dir: Path) -> Path:
    """The page read with the API key, saved for a browser that cannot send the key."""
    response = httpx.get(
        url, headers={"Authorization": f"Bearer {key}"}, timeout=FETCH_TIMEOUT_S, trust_env=False
    )
    response.raise_for_status()
    state_dir.mkdir(parents=True, exist_ok=True)
    copy = state_dir / "status.html"
    copy.write_text(response.text, encoding="utf-8")
    return copy


def cmd_dashboard(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = status_url(settings.ingest_url)
    key = os.environ.get(API_KEY_ENV)
    copy: Path | None = None
    if key and not args.no_open:
        try:
            copy = fetch_copy(url, key, Path(settings.state_dir))
        except httpx.HTTPError as problem:
            print(f"status page: {url} (could not read it: {problem})")
            return EXIT_UNREACHABLE
    opened = False if args.no_open else open_in_browser(copy.resolve().as_uri() if copy else url)
    if args.json:
        print(json.dumps({"url": url, "opened": opened, "copy": str(copy) if copy else None}))
        return EXIT_OK
    print(f"status page: {url}")
    if key:
        print(f"  (needs the API key: Authorization: Bearer ${API_KEY_ENV})")
    if copy is not None:
        print(f"  read with $AIEXEC_API_KEY into {copy}")
    if not args.no_open:
        print("  opened in a browser" if opened else "  no browser available: open the address")
    return EXIT_OK
