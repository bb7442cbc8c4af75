"""`gcloud` behind an injectable runner: the command line, its call, and what its errors mean.

`run` has the signature of `subprocess.run`; tests hand in a fake that answers like gcloud.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from shared.errors import AIExecError

Runner = Callable[..., subprocess.CompletedProcess[str]]
GCLOUD = "gcloud"


class GcloudError(AIExecError, RuntimeError):
    """A gcloud call failed, or what it found cannot be used; the message says what to do."""


def gcloud_argv(*args: str, project: str) -> tuple[str, ...]:
    """The command line of every call, run or printed: never the active configuration's
    project, and never a prompt (a deploy runs unattended)."""
    return (GCLOUD, *args, f"--project={project}", "--quiet")


def gcloud(
    run: Runner, project: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = list(gcloud_argv(*args, project=project))
    if stdin is None:
        return run(argv, capture_output=True, text=True, check=False)
    return run(argv, capture_output=True, text=True, check=False, input=stdin)


def checked(
    run: Runner, project: str, args: tuple[str, ...], what: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The call, when it succeeds; else `GcloudError("cannot {what}: <gcloud's last line>")`."""
    done = gcloud(run, project, *args, stdin=stdin)
    if done.returncode != 0:
        raise GcloudError(f"cannot {what}: {last_line(done.stderr)}")
    return done


def describe_or_create(
    run: Runner,
    project: str,
    describe: tuple[str, ...],
    create: tuple[str, ...],
    what: str,
    *,
    unreadable: str | None = None,
) -> str | None:
    """What `describe` prints of an existing resource, or None once `create` has made the
    missing one. Only "not found" means missing: any other failure to read it (no access, an
    API off) raises, naming `unreadable` (default: `what`), rather than creating a duplicate."""
    described = gcloud(run, project, *describe)
    if described.returncode == 0:
        return described.stdout
    if not not_found(described.stderr):
        raise GcloudError(f"cannot read {unreadable or what}: {last_line(described.stderr)}")
    checked(run, project, create, f"create {what}")
    return None


def escaped_flag(flag: str, values: list[str], delimiters: tuple[str, ...]) -> str:
    """`flag` with `values` in gcloud's `^D^` syntax (`gcloud topic escaping`): the first of
    `delimiters` that no value holds separates them, so a comma inside a value stays in it."""
    delimiter = next(d for d in delimiters if not any(d in v for v in values))
    return f"{flag}=^{delimiter}^" + delimiter.join(values)


def last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def not_found(stderr: str) -> bool:
    return "NOT_FOUND" in stderr or "not found" in stderr.lower()


def api_disabled(stderr: str) -> bool:
    text = stderr.lower()
    return "service_disabled" in text or "has not been used" in text or "it is disabled" in text
