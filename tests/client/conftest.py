"""Fixtures of the client and CLI tests: the session stack (tests/conftest.py), a client on it,
the CLI run in-process, and healthy providers around every test that uses the stack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aiexec.client import AIExecClient
from infra.settings import get_settings
from infra.simulator.client import SimulatorClient
from tests.client.helpers import Cli


def heal(stack: Any) -> None:
    """Every provider ok and every circuit closed (circuits live in Firestore)."""
    SimulatorClient(stack.simulator_url).reset()
    client = AIExecClient(stack.settings)
    for snapshot in client.store.client.collection(stack.settings.collection_circuits).stream():
        snapshot.reference.delete()


@pytest.fixture(autouse=True)
def healthy_providers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests on the stack start and end with healthy providers; other tests don't start it."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("stack")
    heal(stack)
    yield
    heal(stack)


@pytest.fixture
def client(stack: Any) -> Iterator[AIExecClient]:
    with AIExecClient(stack.settings, client_id="tests") as value:
        yield value


@pytest.fixture
def cli(
    stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    # `aiexec` reads <state dir>/local.env: the session stack's, never a developer's own stack.
    monkeypatch.setenv("AIEXEC_STATE_DIR", str(stack.stack.state_dir))
    get_settings.cache_clear()
    yield Cli(capsys)
    get_settings.cache_clear()
