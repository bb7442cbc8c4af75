"""`aiexec sim …` run in this process against a given simulator (tests of the sim commands)."""

from __future__ import annotations

import argparse

import pytest

from aiexec.cli import sim as sim_cli


def run_cli(monkeypatch: pytest.MonkeyPatch, url: str, *argv: str) -> int:
    monkeypatch.setenv("AIEXEC_SIMULATOR_URL", url)
    parser = argparse.ArgumentParser(prog="aiexec")
    sim_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sim", *argv])
    result: int = args.func(args)
    return result
