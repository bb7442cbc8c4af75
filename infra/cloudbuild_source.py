"""Tie a deploy build to a successful test build of the very same source.

    python3 infra/cloudbuild_source.py digest                 # in the test build, first step
    python3 infra/cloudbuild_source.py verify --tested ID --project P   # in the deploy build

The test build (`cloudbuild-test.yaml`, run by `aiexec-tester`, which holds no deploy rights)
starts by hashing its workspace — every file of the uploaded source, before anything is
installed into it — and publishes the digest as its first step's output: Cloud Build keeps what
a step writes to `$BUILDER_OUTPUT/output` in the build's `results.buildStepOutputs`, by step
index ("Cloud Builders can produce this output by writing to $BUILDER_OUTPUT/output",
https://cloud.google.com/build/docs/api/reference/rest/v1/projects.builds , Results, read
2026-11-29). The deploy build (`cloudbuild.yaml`, run by `aiexec-deployer`) starts by hashing
its own workspace the same way, reads the test build (`gcloud builds describe`, which needs
`roles/cloudbuild.builds.viewer`), and goes on only if that build succeeded, ran as the tester,
ran every step of the test config, and hashed the same source. A source edited between the two
uploads, a failed or foreign build, or none at all: nothing is deployed.

Standard library only: it runs before anything is installed, on the build image's python3.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TESTER_ACCOUNT_ID = "aiexec-tester"  # infra/deploy/bootstrap.py: TESTER_ROLE
# The steps of cloudbuild-test.yaml, in order; the digest is the first one's output.
TEST_STEPS = ("digest", "install", "lint", "typecheck", "test")
OUTPUT_ENV = "BUILDER_OUTPUT"
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2

Runner = Callable[..., subprocess.CompletedProcess[str]]


class RefusedError(RuntimeError):
    """The deploy build may not go on; the message says why and what to do."""


def source_digest(root: Path) -> str:
    """SHA-256 over every regular file and symlink under `root` (path, kind, content), in a
    stable order: the same tree gives the same digest wherever it was unpacked."""
    digest = hashlib.sha256()
    paths = sorted(p for p in root.rglob("*") if p.is_symlink() or p.is_file())
    for path in paths:
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            kind, data = b"L", os.readlink(path).encode()
        else:
            kind, data = b"F", path.read_bytes()
        digest.update(relative.encode() + b"\0" + kind + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def publish(digest: str, environ: dict[str, str] | None = None) -> Path | None:
    """Write the digest where Cloud Build collects this step's output (None: not in a build)."""
    env = os.environ if environ is None else environ
    out_dir = env.get(OUTPUT_ENV)
    if not out_dir:
        return None
    target = Path(out_dir) / "output"
    target.write_text(digest)
    return target


def describe_build(run: Runner, project: str, build_id: str) -> dict[str, Any]:
    argv = ["gcloud", "builds", "describe", build_id, f"--project={project}", "--format=json"]
    done = run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise RefusedError(
            f"cannot read test build {build_id}: {lines[-1] if lines else 'no error output'}"
        )
    described: dict[str, Any] = json.loads(done.stdout)
    return described


def check_tested(build: dict[str, Any], project: str, digest: str) -> None:
    """Raise `RefusedError` unless `build` is a successful test build of the source `digest`."""
    build_id = build.get("id", "?")
    if build.get("status") != "SUCCESS":
        raise RefusedError(f"test build {build_id} is {build.get('status')}, not SUCCESS")
    tester = f"{TESTER_ACCOUNT_ID}@{project}.iam.gserviceaccount.com"
    account = str(build.get("serviceAccount", ""))
    if account.rsplit("/", 1)[-1] != tester:
        raise RefusedError(f"test build {build_id} ran as {account or 'the default account'}, "
                      f"not {tester}")  # fmt: skip
    steps = build.get("steps", [])
    ran = tuple(step.get("id") for step in steps)
    if ran != TEST_STEPS:
        raise RefusedError(f"build {build_id} ran steps {list(ran)}, not cloudbuild-test.yaml's "
                      f"{list(TEST_STEPS)}")  # fmt: skip
    failed = [step.get("id") for step in steps if step.get("status") != "SUCCESS"]
    if failed:
        raise RefusedError(f"test build {build_id}: steps {failed} did not succeed")
    outputs = build.get("results", {}).get("buildStepOutputs", [])
    published = base64.b64decode(outputs[0]).decode().strip() if outputs else ""
    if published != digest:
        raise RefusedError(
            f"test build {build_id} tested another source (digest {published or 'none'}, this "
            f"build's {digest}): submit both builds from the same tree (`make deploy`)"
        )


def verify(
    tested: str, project: str, root: Path, run: Runner = subprocess.run
) -> tuple[str, dict[str, Any]]:
    if not tested:
        raise RefusedError(
            "no test build given (_TESTED_BUILD): `make deploy` runs the test build first and "
            "passes its id; a deploy build deploys only a source that build tested"
        )
    digest = source_digest(root)
    build = describe_build(run, project, tested)
    check_tested(build, project, digest)
    return digest, build


def main(argv: Sequence[str] | None = None, run: Runner = subprocess.run) -> int:
    parser = argparse.ArgumentParser(prog="infra/cloudbuild_source.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    digest_cmd = commands.add_parser("digest", help="hash the workspace, publish the digest")
    digest_cmd.add_argument("--root", type=Path, default=Path.cwd())
    digest_cmd.add_argument(
        "--require-output",
        action="store_true",
        help=f"fail unless ${OUTPUT_ENV} is set (in Cloud Build: no output, no deploy later)",
    )
    verify_cmd = commands.add_parser("verify", help="refuse unless the test build matches")
    verify_cmd.add_argument("--tested", required=True, help="id of the test build")
    verify_cmd.add_argument("--project", required=True)
    verify_cmd.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    if args.command == "digest":
        digest = source_digest(args.root)
        where = publish(digest)
        sys.stdout.write(f"source digest {digest}" + (f" → {where}\n" if where else "\n"))
        if where is None and args.require_output:
            sys.stderr.write(
                f"${OUTPUT_ENV} is not set: the digest cannot be published, so no deploy build "
                "could verify this source\n"
            )
            return EXIT_REFUSED
        return EXIT_OK
    try:
        digest, build = verify(args.tested, args.project, args.root, run)
    except RefusedError as refusal:
        sys.stderr.write(f"deploy refused: {refusal}\n")
        return EXIT_REFUSED
    sys.stdout.write(
        f"source digest {digest}: tested by build {build.get('id')} "
        f"({build.get('finishTime', '?')}, {build.get('serviceAccount')})\n"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
