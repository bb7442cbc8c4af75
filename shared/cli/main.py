"""`aiexec` entry point: each command group lives in its own module with a `register` hook.

Exit codes scripts can rely on: 0 success, 1 the operation failed (e.g. a task failed),
2 usage error, 3 the stack or a service could not be reached, 4 timed out waiting.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 4

# Modules that add sub-commands; each exposes `register(subparsers)` and sets `func` defaults.
COMMAND_MODULES = (
    "shared.cli.stack",
    "shared.cli.sim",
    "shared.cli.tasks",
    "shared.cli.demo",
    "shared.cli.operations",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiexec", description="AI Execution System: run AI tasks across providers."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
