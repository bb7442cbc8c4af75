"""docs/: the configuration reference is generated from the settings object, and links hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.settings import Settings
from infra.settings_reference import env_name, markdown_reference

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
REQUIRED = (
    "architecture.md",
    "contract.md",
    "configuration.md",
    "runbook.md",
    "adding-a-provider.md",
    "migration-from-v2.md",
    "openapi.json",
)
_LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")


def test_the_configuration_reference_is_generated_from_the_settings_object() -> None:
    assert (DOCS / "configuration.md").read_text() == markdown_reference(), (
        "regenerate: .venv/bin/python -m infra.settings_reference --markdown "
        "> docs/configuration.md"
    )


def test_every_setting_is_in_the_reference_once() -> None:
    text = markdown_reference()
    for name, info in Settings.model_fields.items():
        assert text.count(f"| `{env_name(name, info)}` |") == 1, name


@pytest.mark.parametrize("name", REQUIRED)
def test_the_documents_exist(name: str) -> None:
    assert (DOCS / name).is_file()


def test_relative_links_resolve() -> None:
    for page in [REPO / "README.md", *DOCS.glob("*.md")]:
        for match in _LINK.finditer(page.read_text()):
            target = match["target"]
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_the_architecture_has_a_mermaid_diagram_and_says_why() -> None:
    text = (DOCS / "architecture.md").read_text()
    assert "```mermaid" in text and "flowchart" in text
    assert "## The life of a task" in text
    assert "## Why workers hand over explicitly" in text


def test_the_runbook_covers_what_on_call_needs() -> None:
    text = (DOCS / "runbook.md").read_text()
    for heading in (
        "## A provider outage",
        "aiexec replay",
        "## Rotating keys",
        "## Reading the weekly report",
        "## Raising limits",
    ):
        assert heading in text


def test_the_readme_leads_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    assert "make run" in first_block and "make test" in first_block
    assert text.index("## The two commands") < text.index("## Using it")
