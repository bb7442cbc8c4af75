"""The deploy build deploys only a source that a successful test build (as aiexec-tester)
tested: `infra/cloudbuild_source.py`, against fake `gcloud builds describe` answers."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra import cloudbuild_source as source

PROJECT = "acme-ai-prod"
TESTER = f"projects/{PROJECT}/serviceAccounts/aiexec-tester@{PROJECT}.iam.gserviceaccount.com"


def tree(root: Path) -> Path:
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "a.py").write_text("A = 1\n")
    (root / "Makefile").write_text("all:\n")
    (root / "link").symlink_to("Makefile")
    return root


def test_the_digest_is_the_trees_content_wherever_it_was_unpacked(tmp_path: Path) -> None:
    one = tree(tmp_path / "one")
    two = tmp_path / "two"
    shutil.copytree(one, two, symlinks=True)
    digest = source.source_digest(one)
    assert digest == source.source_digest(two)
    assert len(digest) == 64
    (two / "shared" / "a.py").write_text("A = 2\n")  # an edit between the two uploads
    assert source.source_digest(two) != digest
    shutil.rmtree(two)
    shutil.copytree(one, two, symlinks=True)
    (two / "shared" / "a.py").rename(two / "shared" / "b.py")  # same content, another path
    assert source.source_digest(two) != digest
    shutil.rmtree(two)
    shutil.copytree(one, two, symlinks=True)
    (two / "new.txt").write_text("")  # an added file, even empty
    assert source.source_digest(two) != digest


def test_the_digest_step_publishes_its_output_for_the_build_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = tree(tmp_path / "ws"), tmp_path / "out"
    out.mkdir()
    where = source.publish("d" * 64, {source.OUTPUT_ENV: str(out)})
    assert where == out / "output" and where.read_text() == "d" * 64
    assert source.publish("d" * 64, {}) is None  # outside Cloud Build: stdout only
    assert source.main(["digest", "--root", str(root)]) == 0
    # the test build requires the output: without it no deploy build could verify the source
    monkeypatch.delenv(source.OUTPUT_ENV, raising=False)
    required = ["digest", "--root", str(root), "--require-output"]
    assert source.main(required) == source.EXIT_REFUSED
    monkeypatch.setenv(source.OUTPUT_ENV, str(out))
    assert source.main(required) == source.EXIT_OK
    assert (out / "output").read_text() == source.source_digest(root)


def described(digest: str, **changes: Any) -> dict[str, Any]:
    """What `gcloud builds describe --format=json` answers for a test build."""
    build: dict[str, Any] = {
        "id": "b-test-42",
        "status": "SUCCESS",
        "serviceAccount": TESTER,
        "finishTime": "2026-11-29T10:00:00Z",
        "steps": [{"id": step, "status": "SUCCESS"} for step in source.TEST_STEPS],
        "results": {"buildStepOutputs": [base64.b64encode(digest.encode()).decode(), "", ""]},
    }
    build.update(changes)
    return build


class FakeDescribe:
    def __init__(self, build: dict[str, Any] | None) -> None:
        self.build = build
        self.argvs: list[list[str]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.argvs.append(argv)
        if self.build is None:
            return subprocess.CompletedProcess(argv, 1, "", "ERROR: NOT_FOUND: build b-x")
        return subprocess.CompletedProcess(argv, 0, json.dumps(self.build), "")


def test_a_successful_test_build_of_the_same_source_lets_the_deploy_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree(tmp_path / "ws")
    fake = FakeDescribe(described(source.source_digest(root)))
    argv = ["verify", "--tested=b-test-42", f"--project={PROJECT}", "--root", str(root)]
    assert source.main(argv, run=fake) == 0
    assert fake.argvs == [
        ["gcloud", "builds", "describe", "b-test-42", f"--project={PROJECT}", "--format=json"]
    ]
    assert "tested by build b-test-42" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"status": "FAILURE"}, "is FAILURE, not SUCCESS"),
        ({"status": "WORKING"}, "is WORKING, not SUCCESS"),
        (
            {"serviceAccount": f"projects/{PROJECT}/serviceAccounts/1-compute@developer"},
            "not aiexec-tester@",
        ),
        ({"serviceAccount": ""}, "ran as the default account"),
        ({"steps": [{"id": "digest", "status": "SUCCESS"}]}, "not cloudbuild-test.yaml's"),
        (
            {
                "steps": [
                    {"id": s, "status": "SUCCESS" if s != "test" else "FAILURE"}
                    for s in source.TEST_STEPS
                ]
            },
            "steps ['test'] did not succeed",
        ),
        ({"results": {}}, "tested another source (digest none"),
    ],
)
def test_anything_but_a_successful_test_build_of_this_source_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], why: str
) -> None:
    root = tree(tmp_path / "ws")
    fake = FakeDescribe(described(source.source_digest(root), **changes))
    argv = ["verify", "--tested=b-test-42", f"--project={PROJECT}", "--root", str(root)]
    assert source.main(argv, run=fake) == source.EXIT_REFUSED
    assert why in capsys.readouterr().err


def test_another_source_no_build_or_an_unreadable_one_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree(tmp_path / "ws")
    tested = source.source_digest(root)
    (root / "shared" / "a.py").write_text("A = 'edited after the test build'\n")
    argv = ["verify", "--tested=b-test-42", f"--project={PROJECT}", "--root", str(root)]
    assert source.main(argv, run=FakeDescribe(described(tested))) == source.EXIT_REFUSED
    assert "tested another source" in capsys.readouterr().err
    empty = ["verify", "--tested=", f"--project={PROJECT}", "--root", str(root)]
    never = FakeDescribe(described(tested))
    assert source.main(empty, run=never) == source.EXIT_REFUSED
    assert "no test build given (_TESTED_BUILD)" in capsys.readouterr().err
    assert never.argvs == []  # nothing asked
    assert source.main(argv, run=FakeDescribe(None)) == source.EXIT_REFUSED
    assert "cannot read test build b-test-42: ERROR: NOT_FOUND" in capsys.readouterr().err


def test_the_script_needs_nothing_but_the_standard_library() -> None:
    """It runs as the first step, on the build image's python3, before anything is installed."""
    text = Path(source.__file__).read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in text.splitlines()
        if line.startswith(("import ", "from ")) and "__future__" not in line
    }
    assert imports <= {"argparse", "base64", "hashlib", "json", "os", "subprocess", "sys",
                       "collections", "pathlib", "typing"}  # fmt: skip
