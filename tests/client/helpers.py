"""Helpers of the client and CLI tests (imported by tests; fixtures live in conftest.py)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import pytest

from aiexec.cli.main import main

_ids = itertools.count(1)


def unique(prefix: str) -> str:
    """A task id no other test (or earlier run on the same emulator) uses."""
    return f"{prefix}-{time.time_ns()}-{next(_ids)}"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


class Cli:
    """`aiexec ARGS` in this process, reading the session stack's settings."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> Run:
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)
