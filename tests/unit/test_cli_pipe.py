"""A reader that stops early (`aiexec … | head -1`) is not a failure of the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    # `true` reads nothing and exits: every write of the command meets a closed pipe.
    command = f"{sys.executable} -m aiexec.cli.main models check --offline | true"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "AIEXEC_STATE_DIR": "/nonexistent"},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
