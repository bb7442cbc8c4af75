"""docs/adding-a-provider.md lists exactly what a provider needs: for every registered provider
each listed path exists, and every file outside the provider's folder that depends on it (imports
its folder, or records models under its name) is on the list."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from shared.providers.registry import SPECS, known_providers

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "adding-a-provider.md"
_ROW = re.compile(r"^\| `(?P<path>[^`]+)` \|")


def listed(name: str) -> set[str]:
    """The table under "## The list", with `<name>` and `<simulator>` filled in for `name`."""
    section = DOC.read_text().split("## The list", 1)[1].split("\n## ", 1)[0]
    simulator = SPECS[name].simulator.module.rsplit(".", 1)[-1]
    paths = {m["path"] for line in section.splitlines() if (m := _ROW.match(line))}
    return {p.replace("<name>", name).replace("<simulator>", simulator) for p in paths}


def tracked_and_new() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in out.stdout.splitlines() if (REPO / line).is_file()]


def depends_on(path: str, name: str) -> bool:
    """Whether the file imports the provider's folder or records models under its name."""
    if path.endswith(".py"):
        return f"shared.providers.{name}." in (REPO / path).read_text(errors="replace")
    if path.endswith(".json"):  # data files: a catalog entry is `"provider": "<name>"`
        return f'"provider": "{name}"' in (REPO / path).read_text(errors="replace")
    return False


@pytest.fixture(params=known_providers())
def name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def test_the_list_is_not_empty() -> None:
    assert len(listed("anthropic")) >= 8


def test_every_listed_path_exists(name: str) -> None:
    missing = sorted(p for p in listed(name) if not (REPO / p).is_file())
    assert not missing, f"{name}: listed in {DOC.name} but missing: {missing}"


def test_nothing_outside_the_folder_depends_on_a_provider_unlisted(name: str) -> None:
    folder = f"shared/providers/{name}/"
    unlisted = sorted(
        path
        for path in tracked_and_new()
        if not path.startswith(folder) and path not in listed(name) and depends_on(path, name)
    )
    assert not unlisted, f"{name}: depend on it but are not in {DOC.name}: {unlisted}"


def test_the_spec_names_its_simulator_module_and_it_exists(name: str) -> None:
    module = SPECS[name].simulator.module
    assert (REPO / (module.replace(".", "/") + ".py")).is_file()
