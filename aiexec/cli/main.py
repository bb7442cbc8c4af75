"""`aiexec` entry point: each command group lives in its own module with a `register` hook.

Exit codes scripts can rely on: 0 success, 1 the operation failed (e.g. a task failed),
2 usage error, 3 the stack or a service could not be reached, 4 timed out waiting.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 4

# Modules that add sub-commands; each exposes `register(subparsers)` and sets `func` defaults.
COMMAND_MODULES = (
    "aiexec.cli.stack",
    "aiexec.cli.sim",
    "aiexec.cli.models",
    "aiexec.cli.tasks",
    "aiexec.cli.demo",
    "aiexec.cli.operations",
    "aiexec.cli.chaos",
    "aiexec.cli.report",
    "aiexec.cli.deploy",
    "aiexec.cli.keys",
    "aiexec.cli.bench",
    "aiexec.cli.upload",
    "aiexec.cli.traces",
    "aiexec.cli.batch",
    "aiexec.cli.dashboard",
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


# Commands that manage the stack itself (or a real deployment) must not inherit a local stack's
# connection settings.
_STACK_COMMANDS = {"up", "down", "stack", "deploy"}


def load_local_env() -> None:
    """Use the running local stack's connection settings unless the caller set them already."""
    from infra.settings import get_settings

    path = Path(os.environ.get("AIEXEC_STATE_DIR", ".aiexec")) / "local.env"
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.removeprefix("export ").partition("=")
        if sep and line.startswith("export "):
            os.environ.setdefault(name.strip(), shlex.split(value)[0] if value else "")
    get_settings.cache_clear()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in _STACK_COMMANDS:
        load_local_env()
    try:
        result: int = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe usually shows only at the flush
    except BrokenPipeError:
        # The reader went away (`aiexec get x | head`): not a failure of the command. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return result


if __name__ == "__main__":
    sys.exit(main())
