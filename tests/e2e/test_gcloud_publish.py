"""An operator's path: the README's `gcloud pubsub topics publish tasks …` command, run with the
real `gcloud` binary against the stack's Pub/Sub emulator, and the task it publishes succeeds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.e2e.conftest import WAIT_S, Pipeline, unique

README = Path(__file__).resolve().parents[2] / "README.md"
README_TASK_ID = "ops-cap-1"


def readme_command() -> str:
    """The README's gcloud publish command, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", README.read_text())
    lines = [line.strip() for line in text.splitlines()]
    commands = [line for line in lines if "gcloud pubsub topics publish tasks" in line]
    assert len(commands) == 1, commands
    assert README_TASK_ID in commands[0], commands[0]
    return commands[0]


def test_the_readme_gcloud_command_publishes_a_task_that_succeeds(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    assert shutil.which("gcloud"), "gcloud is a prerequisite of the stack (`make prereqs`)"
    task_id = unique("gcloud")
    command = readme_command().replace(README_TASK_ID, task_id)
    # A configuration directory of its own: no account, no user settings; the stack's
    # PUBSUB_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT are in the environment, as after
    # `. .aiexec/local.env`.
    env = os.environ | {
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert "messageIds" in done.stdout, done.stdout
    task = pipeline.wait(task_id, WAIT_S)  # a Firestore snapshot listener, bounded
    assert task["status"] == "succeeded", task
    assert task["client_id"] == "ops"  # the --attribute of the command
    assert task["request"]["task_description"] == "Summarize the CAP theorem"
