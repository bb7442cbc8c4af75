"""The production topology (OIDC pushes, 10-600 s retry, the report trigger) applied to the
real Pub/Sub emulator: twice changes nothing; a chain change updates only what changed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

from infra.deploy import Target, production_topology
from infra.pubsub_apply import apply_topology
from infra.settings import Settings
from infra.topology import Topology

pytestmark = pytest.mark.usefixtures("default_settings_env")
PUSH = "aiexec-push@acme-ai-prod.iam.gserviceaccount.com"


def topology(providers: list[str]) -> Topology:
    target = Target("acme-ai-prod", "europe-west1")
    return production_topology(Settings(providers=providers), target, PUSH)


@pytest.fixture
def project(stack: Any) -> str:
    """A project of its own on the session's emulator (the stack's topology stays untouched)."""
    return f"demo-deploy-{time.time_ns()}"


def everything(topology: Topology) -> list[str]:
    return [f"topics/{t.name}" for t in topology.topics] + [
        f"subscriptions/{s.name}" for s in topology.subscriptions
    ]


def test_applying_twice_changes_nothing_the_second_time(project: str) -> None:
    wanted = topology(["openai", "vertex"])
    first = apply_topology(wanted, project)
    assert sorted(first.created) == sorted(everything(wanted))
    second = apply_topology(wanted, project)
    assert not second.changed, second.summary()
    assert sorted(second.unchanged) == sorted(everything(wanted))

    client = pubsub_v1.SubscriberClient()
    try:
        got = client.get_subscription(
            subscription=f"projects/{project}/subscriptions/tasks-openai-worker"
        )
        report = client.get_subscription(
            subscription=f"projects/{project}/subscriptions/usage-report-requests-report"
        )
    finally:
        client.close()
    assert got.push_config.oidc_token.service_account_email == PUSH
    assert got.push_config.push_endpoint == (
        "https://europe-west1-acme-ai-prod.cloudfunctions.net/worker-openai"
    )
    assert got.dead_letter_policy.dead_letter_topic == f"projects/{project}/topics/tasks-vertex"
    assert got.dead_letter_policy.max_delivery_attempts == 5
    assert got.retry_policy.minimum_backoff.total_seconds() == 10
    assert got.retry_policy.maximum_backoff.total_seconds() == 600
    assert report.ack_deadline_seconds == 600


def test_a_chain_change_updates_only_what_changed(project: str) -> None:
    apply_topology(topology(["openai", "vertex"]), project)
    longer = topology(["openai", "anthropic", "vertex"])
    report = apply_topology(longer, project)
    assert sorted(report.created) == [
        "subscriptions/tasks-anthropic-worker",
        "topics/tasks-anthropic",
    ]
    assert report.updated == ["subscriptions/tasks-openai-worker"]  # its dead letter moved
    assert report.stale == []
    assert len(report.unchanged) == len(everything(longer)) - 3
    assert not apply_topology(longer, project).changed
