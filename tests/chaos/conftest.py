"""A second deployment on the session's emulators and simulator: the chain openai → vertex →
anthropic, with its own functions and its own project id (so its topics, subscriptions and
documents are apart from the session stack's). Started once, only for the tests that ask."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.localstack import LocalStack, StackError, free_port_settings
from infra.localstack.ports import SERVICE_PORTS, port_uses
from infra.settings import Settings
from tests.conftest import REPO_ROOT

THREE = ["openai", "vertex", "anthropic"]


@pytest.fixture(scope="session")
def chain_of_three(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    session: Settings = stack.settings
    fresh = free_port_settings(session.model_copy(update={"providers": THREE}))
    own_ports = {u.setting.split(" ")[0] for u in port_uses(fresh)} - set(SERVICE_PORTS)
    settings = session.model_copy(
        update={
            "providers": THREE,
            "project_id": f"{session.project_id}-three",
            "ingest_url": fresh.ingest_url,
            **{name: getattr(fresh, name) for name in own_ports},
        }
    )
    local = LocalStack(
        settings, tmp_path_factory.mktemp("aiexec-three"), REPO_ROOT, functions_only=True
    )
    try:
        local.start()
    except StackError as exc:
        pytest.fail(f"the three-provider functions did not start:\n{exc}", pytrace=False)
    try:
        yield settings
    finally:
        local.stop()
