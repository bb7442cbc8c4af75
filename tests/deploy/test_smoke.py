"""The post-deploy smoke test, run against the local stack (the same code Cloud Build runs
against the deployed project): publish to `tasks`, wait for the document to succeed."""

from __future__ import annotations

from typing import Any

import pytest

from infra.deploy import smoke


def test_smoke_succeeds_on_a_running_pipeline(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smoke.main(["--project", stack.settings.project_id, "--timeout", "60"]) == 0
    assert "succeeded" in capsys.readouterr().out


def test_smoke_fails_when_nothing_processes_the_task(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # A project with a `tasks` topic but no subscriber: the document never appears.
    from infra.pubsub_apply import apply_topology
    from infra.topology import Topic, Topology

    project = "demo-smoke-nobody"
    apply_topology(Topology(topics=(Topic(name="tasks"),), subscriptions=()), project)
    assert smoke.main(["--project", project, "--timeout", "3"]) == smoke.EXIT_FAILED
    assert "never appeared" in capsys.readouterr().err
