"""Every command of the README's code blocks (and of docs/migration-from-v2.md) runs, in order,
against the session stack, so the docs cannot rot.

`sh` blocks are split into logical lines (`\\` continuations joined, comments dropped). Each line
is either run or skipped for a reason listed in `SKIPS`; a line that matches neither fails the
test, so a new command in the README must be runnable here or skipped on purpose. `<task_id>`
stands for a real task. `aiexec` lines run in this process through `main(argv)` (the first one as
a real process, to check the installed entry point), `curl` lines through bash; `python` blocks
are executed. Every run must exit 0; curl must answer JSON without an `error`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aiexec.client import AIExecClient
from tests.client.helpers import Cli

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "docs" / "migration-from-v2.md"]
_BLOCK = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.M | re.S)
_ASSIGNMENT = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=[^\s$`]+\s*)+$")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")

# (pattern, why the line is not run here)
SKIPS: list[tuple[str, str]] = [
    (r"^make (run|test)\b", "runs the demo or the whole suite on a stack of its own"),
    (r"^(\.venv/bin/)?pytest\b", "runs a level of the suite, of which this test is part"),
    (r"^make (up|down)\b", "manages the local stack: the session `stack` fixture stands in"),
    (r"^(\.venv/bin/)?aiexec (up|down)\b", "manages the local stack: the session fixture does"),
    (r"^(\.|source) ", "loads the stack's settings: the test runs with the stack's environment"),
    (r"^make deploy\b", "needs a Google Cloud project (submits a Cloud Build)"),
    (r"^(\.venv/bin/)?aiexec deploy\b(?!.*--dry-run)", "changes a Google Cloud project"),
    (r"\bgcloud\b", "needs a Google Cloud project"),
    (r"^(for .*; do|done)$", "a loop around gcloud calls: needs a Google Cloud project"),
]
RUN = re.compile(r"^((\.venv/bin/)?aiexec|curl) ")
# `gcloud` publishing to the emulator needs no project: run through bash, like curl.
GCLOUD_TO_EMULATOR = re.compile(r"^CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=\S+ .*\bgcloud pubsub ")


def logical_lines(text: str) -> list[tuple[str, str]]:
    """(language, line) for every command line of every sh/python code block."""
    lines: list[tuple[str, str]] = []
    for block in _BLOCK.finditer(text):
        if block["lang"] == "python":
            lines.append(("python", block["body"]))
        elif block["lang"] in ("sh", "bash", "shell"):
            joined = re.sub(r"\\\n\s*", " ", block["body"])
            for line in joined.splitlines():
                command = line.strip()
                if command and not command.startswith("#"):
                    lines.append(("sh", command))
    return lines


def classify(line: str) -> tuple[str, str]:
    """("run" | "set" | "skip", reason); fails on a line no rule covers."""
    if GCLOUD_TO_EMULATOR.match(line):
        return "run", ""
    for pattern, reason in SKIPS:
        if re.search(pattern, line):
            return "skip", reason
    if _ASSIGNMENT.match(line):
        return "set", "shell variables the following lines use"
    if RUN.match(line):
        return "run", ""
    raise AssertionError(f"README line not runnable and not skipped on purpose: {line!r}")


def test_every_code_line_is_classified() -> None:
    for doc in DOCS:
        for language, line in logical_lines(doc.read_text()):
            if language == "sh":
                classify(line)
    readme = [line for _, line in logical_lines(DOCS[0].read_text())]
    assert any("submit --file" in line for line in readme)  # the newcomer's path is covered
    assert any("results" in line and "--out" in line for line in readme)


class Runner:
    def __init__(self, cli: Cli, stack: Any, workdir: Path, task_id: str) -> None:
        self.cli, self.stack, self.workdir, self.task_id = cli, stack, workdir, task_id
        self.variables: dict[str, str] = {}
        self.real_process_done = False
        self.replayed: list[str] = []

    def expand(self, line: str) -> str:
        line = line.replace("<task_id>", self.task_id)
        assert not re.search(r"<[a-z_]+>", line), f"a placeholder nobody fills in: {line}"
        values = {**os.environ, **self.variables}
        return _VARIABLE.sub(lambda m: values.get(m[1], m[0]), line)

    def sh(self, line: str) -> None:
        kind, _ = classify(line)
        if kind == "set":
            for name, value in (part.split("=", 1) for part in shlex.split(line)):
                self.variables[name] = value
        elif kind == "run" and line.startswith("curl"):
            self._curl(line)
        elif kind == "run" and GCLOUD_TO_EMULATOR.match(line):
            self._gcloud(line)
        elif kind == "run":
            self._aiexec(self.expand(line))

    def _curl(self, line: str) -> None:
        done = subprocess.run(
            ["bash", "-c", self.expand(line)], cwd=self.workdir, capture_output=True, text=True,
            env=os.environ | self.variables, timeout=150, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stderr)
        answer = json.loads(done.stdout)
        assert answer.get("error") is None, (line, answer)

    def _gcloud(self, line: str) -> None:
        # A configuration directory of its own: no account, no user settings, nothing written
        # to the user's ~/.config/gcloud.
        env = os.environ | self.variables | {"CLOUDSDK_CONFIG": str(self.workdir / "gcloud")}
        done = subprocess.run(
            ["bash", "-c", line], cwd=self.workdir, capture_output=True, text=True, env=env,
            timeout=150, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stderr)
        assert "messageIds" in done.stdout, (line, done.stdout, done.stderr)

    def _aiexec(self, line: str) -> None:
        words = shlex.split(line, comments=True)
        out_file = None
        if ">" in words:
            out_file = self.workdir / words[words.index(">") + 1]
            words = words[: words.index(">")]
        if not self.real_process_done:  # once: the installed entry point, as a user runs it
            self.real_process_done = True
            done = subprocess.run(
                words, cwd=self.workdir, capture_output=True, text=True, timeout=150,
                check=False,
            )  # fmt: skip
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            return
        with contextlib.chdir(self.workdir):
            run = self.cli(*words[1:])
        assert run.code == 0, (line, run.out, run.err)
        if out_file is not None:
            out_file.write_text(run.out)
        if words[1] == "replay":
            self.replayed += json.loads(run.out)["replayed"]

    def python(self, code: str) -> None:
        output = io.StringIO()
        with contextlib.chdir(self.workdir), contextlib.redirect_stdout(output):
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
        assert output.getvalue().strip()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A scratch checkout: files the commands write land here, not in the repository."""
    for name in (".venv", "docs"):
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_commands_work(
    doc: Path, cli: Cli, stack: Any, workdir: Path, client: AIExecClient
) -> None:
    sent = client.submit({"task_description": "the <task_id> of the docs"}, wait_s=30)
    assert sent.status == "succeeded"
    runner = Runner(cli, stack, workdir, sent.task_id)
    for language, line in logical_lines(doc.read_text()):
        if language == "python":
            runner.python(line)
        else:
            runner.sh(line)
    # Replayed tasks run in the background: let them finish before other tests count calls.
    finished = client.wait_many(runner.replayed, 60)
    assert all(task is not None and task.terminal for task in finished.values())
    if doc.name == "README.md":
        exported = (workdir / "results.csv").read_text().splitlines()
        assert exported[0].startswith("task_id,status") and len(exported) > 10
