"""The Pub/Sub topology: derived from settings, applied idempotently to the real emulator."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.api_core.exceptions import DeadlineExceeded
from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

from infra.pubsub_apply import MANAGED_LABEL, apply_topology, expiration_of
from infra.settings import Settings
from infra.topology import (
    BATCH_FUNCTIONS,
    FUNCTION_REPORT,
    MAX_ACK_DEADLINE_S,
    PRODUCTION_RETRY,
    PUSH_START_MARGIN_S,
    Subscription,
    Topic,
    Topology,
    ack_deadline_for,
    build_topology,
    push_functions,
    push_timeout_s,
)
from shared.events import CALLBACK_ATTRIBUTE, CALLBACK_FILTER

pytestmark = pytest.mark.usefixtures("default_settings_env")


def endpoints_for(settings: Settings, base: str = "http://127.0.0.1:9") -> dict[str, str]:
    return {name: f"{base}/{name}" for name in push_functions(settings)}


def topology_for(providers: list[str], **overrides: Any) -> Topology:
    settings = Settings(providers=providers, **overrides)
    return build_topology(settings, endpoints_for(settings))


def dead_letters(topology: Topology) -> dict[str, str | None]:
    return {s.name: s.dead_letter_topic for s in topology.subscriptions}


# --- derivation ---------------------------------------------------------------------------


def test_default_chain_topics_and_dead_letters() -> None:
    topology = topology_for(["openai", "vertex"])
    assert [t.name for t in topology.topics] == [
        "tasks",
        "tasks-openai",
        "tasks-vertex",
        "tasks-dead",
        "task-results",
        "usage-report-requests",
        "sweep-requests",
        "batch-requests",
    ]
    assert dead_letters(topology) == {
        "tasks-ingest": "tasks-dead",
        "tasks-openai-worker": "tasks-vertex",
        "tasks-vertex-worker": "tasks-dead",
        "tasks-dead-finalizer": None,
        "sweep-requests-sweeper": None,
        "usage-report-requests-report": None,
        "task-results-callbacks": None,
        "batch-requests-batcher": None,  # a lost trigger: the next one comes minutes later
        "batch-requests-poller": None,
        "task-results-audit": None,
    }
    # Without the batch functions (a local stack that does not run them): no subscriptions on
    # their trigger, which stays a topic (`aiexec batch flush` publishes to it)
    settings = Settings(providers=["openai", "vertex"])
    online_only = {k: v for k, v in endpoints_for(settings).items() if k not in BATCH_FUNCTIONS}
    bare = build_topology(settings, online_only)
    assert "batch-requests" in {t.name for t in bare.topics}
    assert not [s for s in bare.subscriptions if s.topic == "batch-requests"]
    ingest = topology.subscription("tasks-ingest")
    assert ingest.topic == "tasks"
    assert ingest.push_endpoint == "http://127.0.0.1:9/ingest-events"
    assert ingest.max_delivery_attempts == 5  # a poison message cannot loop forever
    assert topology.subscription("tasks-openai-worker").push_endpoint == (
        "http://127.0.0.1:9/worker-openai"
    )
    assert topology.subscription("tasks-dead-finalizer").max_delivery_attempts is None
    audit = topology.subscription("task-results-audit")
    assert (audit.topic, audit.is_push) == ("task-results", False)


def test_three_provider_chain_hands_over_in_order() -> None:
    topology = topology_for(["openai", "anthropic", "vertex"])
    assert dead_letters(topology) == {
        "tasks-ingest": "tasks-dead",
        "tasks-openai-worker": "tasks-anthropic",
        "tasks-anthropic-worker": "tasks-vertex",
        "tasks-vertex-worker": "tasks-dead",
        "tasks-dead-finalizer": None,
        "sweep-requests-sweeper": None,
        "usage-report-requests-report": None,
        "task-results-callbacks": None,
        "batch-requests-batcher": None,  # a lost trigger: the next one comes minutes later
        "batch-requests-poller": None,
        "task-results-audit": None,
    }
    assert Topic(name="tasks-anthropic") in topology.topics
    for name in ("tasks-openai-worker", "tasks-anthropic-worker", "tasks-vertex-worker"):
        assert topology.subscription(name).max_delivery_attempts == 5


def test_single_provider_chain_drains_into_tasks_dead() -> None:
    topology = topology_for(["vertex"])
    assert topology.subscription("tasks-vertex-worker").dead_letter_topic == "tasks-dead"


def test_names_follow_the_configured_topics() -> None:
    topology = topology_for(["openai"], topic_prefix="q-", topic_dead="q-dead", topic_tasks="in")
    assert dead_letters(topology) == {
        "in-ingest": "q-dead",
        "q-openai-worker": "q-dead",
        "q-dead-finalizer": None,
        "sweep-requests-sweeper": None,
        "usage-report-requests-report": None,
        "task-results-callbacks": None,
        "batch-requests-batcher": None,  # a lost trigger: the next one comes minutes later
        "batch-requests-poller": None,
        "task-results-audit": None,
    }


def test_worker_ack_deadline_covers_its_lease_plus_start_up_capped_at_600() -> None:
    settings = Settings(openai_timeout_s=30, provider_attempts=3, lease_margin_s=30)
    topology = build_topology(settings, endpoints_for(settings))
    assert settings.lease_seconds("openai") == 120
    assert push_timeout_s(settings, "worker-openai") == 120  # the function's --timeout
    assert topology.subscription("tasks-openai-worker").ack_deadline_s == 120 + 30
    slow = Settings(vertex_timeout_s=500, provider_attempts=3)
    topology = build_topology(slow, endpoints_for(slow))
    assert push_timeout_s(slow, "worker-vertex") == 570  # capped: 570 + 30 = Pub/Sub's 600
    assert topology.subscription("tasks-vertex-worker").ack_deadline_s == 600


@pytest.mark.parametrize("providers", [["openai", "vertex"], ["openai", "anthropic", "vertex"]])
def test_every_subscription_never_expires_and_acks_after_its_function_timeout(
    providers: list[str],
) -> None:
    """One budget per push-fed function: its timeout; the ack deadline (= the push request
    timeout) is that plus the start-up margin, never more than Pub/Sub's 600 s."""
    settings = Settings(providers=providers)
    topology = build_topology(settings, endpoints_for(settings))
    assert all(sub.expiration_ttl_days is None for sub in topology.subscriptions)
    fed = {s.push_endpoint.rsplit("/", 1)[-1]: s for s in topology.subscriptions if s.push_endpoint}
    assert set(fed) == set(push_functions(settings))
    for function, sub in fed.items():
        timeout = push_timeout_s(settings, function)
        assert sub.ack_deadline_s == ack_deadline_for(timeout)
        assert timeout + PUSH_START_MARGIN_S <= sub.ack_deadline_s <= MAX_ACK_DEADLINE_S
    assert fed["ingest-events"].ack_deadline_s == 90
    assert fed["sweeper"].ack_deadline_s == fed["report"].ack_deadline_s == 600


def test_retry_policy_is_a_parameter() -> None:
    settings = Settings()
    local = build_topology(settings, endpoints_for(settings))
    production = build_topology(settings, endpoints_for(settings), retry=PRODUCTION_RETRY)
    for topology, expected in ((local, (1, 10)), (production, (10, 600))):
        for sub in topology.subscriptions:
            if sub.is_push:
                assert (sub.min_backoff_s, sub.max_backoff_s) == expected


def test_missing_endpoint_is_named() -> None:
    settings = Settings()
    endpoints = endpoints_for(settings)
    del endpoints["worker-vertex"]
    with pytest.raises(ValueError, match="worker-vertex"):
        build_topology(settings, endpoints)


def test_report_subscription_pushes_to_the_report_function() -> None:
    settings = Settings()
    endpoints = endpoints_for(settings)
    assert FUNCTION_REPORT in endpoints
    topology = build_topology(settings, endpoints)
    report = topology.subscription("usage-report-requests-report")
    assert (report.topic, report.push_endpoint) == ("usage-report-requests", endpoints["report"])


def test_topology_rejects_undeclared_topics_and_half_policies() -> None:
    with pytest.raises(ValueError, match="undeclared topic"):
        Topology(
            topics=(Topic(name="a"),),
            subscriptions=(
                Subscription(name="s", topic="a", dead_letter_topic="b", max_delivery_attempts=5),
            ),
        )
    with pytest.raises(ValueError, match="go together"):
        Subscription(name="s", topic="a", dead_letter_topic="b", max_delivery_attempts=None)


# --- applying to the emulator ---------------------------------------------------------


@pytest.fixture
def project(stack: Any) -> Iterator[str]:
    """A project of its own on the session's emulator: the stack's topology stays untouched."""
    yield f"demo-topology-{time.time_ns()}"


def subscription(project: str, name: str) -> Any:
    client = pubsub_v1.SubscriberClient()
    try:
        return client.get_subscription(subscription=f"projects/{project}/subscriptions/{name}")
    finally:
        client.close()


def test_the_stack_topology_is_applied_and_reapplying_changes_nothing(stack: Any) -> None:
    local = stack.stack
    assert local.topology is not None
    report = apply_topology(local.topology, stack.settings.project_id)
    assert not report.changed, report.summary()
    assert len(report.unchanged) == len(local.topology.topics) + len(local.topology.subscriptions)
    worker = subscription(stack.settings.project_id, "tasks-openai-worker")
    assert worker.push_config.push_endpoint == local.components["worker-openai"].push_endpoint
    assert worker.dead_letter_policy.dead_letter_topic.endswith("/topics/tasks-vertex")
    assert worker.dead_letter_policy.max_delivery_attempts == 5


def test_apply_twice_second_is_unchanged(project: str) -> None:
    topology = topology_for(["openai", "vertex"])
    first = apply_topology(topology, project)
    assert sorted(first.created) == sorted(
        [f"topics/{t.name}" for t in topology.topics]
        + [f"subscriptions/{s.name}" for s in topology.subscriptions]
    )
    second = apply_topology(topology, project)
    assert (second.created, second.updated, second.stale) == ([], [], [])
    assert len(second.unchanged) == len(first.created)
    got = subscription(project, "tasks-vertex-worker")
    assert got.ack_deadline_seconds == 150
    assert got.retry_policy.minimum_backoff.total_seconds() == 1
    assert got.retry_policy.maximum_backoff.total_seconds() == 10
    assert got.labels[MANAGED_LABEL[0]] == MANAGED_LABEL[1]


def test_changing_the_chain_updates_only_what_changed(project: str) -> None:
    apply_topology(topology_for(["openai", "vertex"]), project)

    report = apply_topology(topology_for(["openai", "anthropic", "vertex"]), project)
    assert sorted(report.created) == [
        "subscriptions/tasks-anthropic-worker",
        "topics/tasks-anthropic",
    ]
    assert report.updated == ["subscriptions/tasks-openai-worker"]
    assert report.stale == []
    dead_letter = subscription(project, "tasks-openai-worker").dead_letter_policy
    assert dead_letter.dead_letter_topic == f"projects/{project}/topics/tasks-anthropic"

    back = apply_topology(topology_for(["openai", "vertex"]), project)
    assert back.updated == ["subscriptions/tasks-openai-worker"]
    assert sorted(back.stale) == ["subscriptions/tasks-anthropic-worker", "topics/tasks-anthropic"]
    pruned = apply_topology(topology_for(["openai", "vertex"]), project, prune=True)
    assert sorted(pruned.deleted) == sorted(back.stale)
    assert not apply_topology(topology_for(["openai", "vertex"]), project).stale


def test_changed_endpoint_ack_and_retry_are_updated_in_place(project: str) -> None:
    settings = Settings()
    apply_topology(build_topology(settings, endpoints_for(settings)), project)
    moved = Settings(openai_timeout_s=100)
    topology = build_topology(
        moved, endpoints_for(moved, "http://127.0.0.1:10"), retry=PRODUCTION_RETRY
    )
    report = apply_topology(topology, project)
    assert sorted(report.updated) == sorted(
        f"subscriptions/{s.name}" for s in topology.subscriptions if s.is_push
    )
    assert report.notes == []  # the emulator updates every field in place
    got = subscription(project, "tasks-openai-worker")
    assert got.push_config.push_endpoint == "http://127.0.0.1:10/worker-openai"
    assert got.ack_deadline_seconds == 360
    assert got.retry_policy.maximum_backoff.total_seconds() == 600
    assert not apply_topology(topology, project).changed


def test_push_authentication_is_part_of_the_desired_state(project: str) -> None:
    settings = Settings()
    account = "pusher@demo-aiexec.iam.gserviceaccount.com"
    plain = build_topology(settings, endpoints_for(settings))
    signed = build_topology(settings, endpoints_for(settings), push_service_account=account)
    apply_topology(plain, project)
    report = apply_topology(signed, project)
    assert len(report.updated) == len([s for s in plain.subscriptions if s.is_push])
    got = subscription(project, "tasks-dead-finalizer")
    assert got.push_config.oidc_token.service_account_email == account
    assert not apply_topology(signed, project).changed


def test_the_emulator_stores_never_expire_and_the_ack_deadline_of_every_subscription(
    project: str,
) -> None:
    settings = Settings()
    topology = build_topology(settings, endpoints_for(settings), retry=PRODUCTION_RETRY)
    apply_topology(topology, project)
    for sub in topology.subscriptions:
        got = subscription(project, sub.name)
        assert got.expiration_policy is not None and expiration_of(got) is None, sub.name
        assert got.ack_deadline_seconds == sub.ack_deadline_s, sub.name


def _create_drifted(project: str, name: str, topic: str, **fields: Any) -> None:
    """A subscription as a console edit (or an older deploy) would leave it."""
    client = pubsub_v1.SubscriberClient()
    try:
        client.create_subscription(
            request={
                "name": f"projects/{project}/subscriptions/{name}",
                "topic": f"projects/{project}/topics/{topic}",
                "labels": dict([MANAGED_LABEL]),
                **fields,
            }
        )
    finally:
        client.close()


def test_drift_in_expiration_or_ack_deadline_is_detected_and_repaired(project: str) -> None:
    settings = Settings()
    topology = build_topology(settings, endpoints_for(settings))
    apply_topology(topology, project)
    client = pubsub_v1.SubscriberClient()
    try:
        for name in ("tasks-openai-worker", "tasks-dead-finalizer", "task-results-audit"):
            client.delete_subscription(subscription=f"projects/{project}/subscriptions/{name}")
    finally:
        client.close()
    worker = topology.subscription("tasks-openai-worker")
    # Pub/Sub's default: deleted after 31 days without activity ...
    _create_drifted(
        project,
        worker.name,
        worker.topic,
        push_config={"push_endpoint": worker.push_endpoint},
        ack_deadline_seconds=worker.ack_deadline_s,
        expiration_policy={"ttl": timedelta(days=31)},
        dead_letter_policy={
            "dead_letter_topic": f"projects/{project}/topics/{worker.dead_letter_topic}",
            "max_delivery_attempts": worker.max_delivery_attempts,
        },
        retry_policy={
            "minimum_backoff": timedelta(seconds=worker.min_backoff_s or 0),
            "maximum_backoff": timedelta(seconds=worker.max_backoff_s or 0),
        },
    )
    assert expiration_of(subscription(project, worker.name)) == timedelta(days=31)
    # ... a short ack deadline (Pub/Sub gives up on a push while the function still runs) ...
    finalizer = topology.subscription("tasks-dead-finalizer")
    _create_drifted(
        project,
        finalizer.name,
        finalizer.topic,
        push_config={"push_endpoint": finalizer.push_endpoint},
        ack_deadline_seconds=10,
        expiration_policy={},
        retry_policy={
            "minimum_backoff": timedelta(seconds=finalizer.min_backoff_s or 0),
            "maximum_backoff": timedelta(seconds=finalizer.max_backoff_s or 0),
        },
    )
    # ... and no expiration policy at all (what every subscription had before).
    audit = topology.subscription("task-results-audit")
    _create_drifted(project, audit.name, audit.topic, ack_deadline_seconds=audit.ack_deadline_s)

    report = apply_topology(topology, project)
    assert sorted(report.updated) == sorted(
        f"subscriptions/{name}" for name in (worker.name, finalizer.name, audit.name)
    )
    # The emulator refuses to update an expiration policy in place (Pub/Sub itself does it), so
    # apply falls back to recreating those two and says so; the ack deadline is updated in place.
    refused = "update of expiration_policy refused"
    assert sorted(n.split(":")[0] for n in report.notes if refused in n) == [
        f"subscriptions/{audit.name}",
        f"subscriptions/{worker.name}",
    ]
    assert len(report.notes) == 2
    for sub in (worker, finalizer, audit):
        got = subscription(project, sub.name)
        assert expiration_of(got) is None, sub.name
        assert got.ack_deadline_seconds == sub.ack_deadline_s, sub.name
    assert not apply_topology(topology, project).changed


# --- the emulator honours the safety net ------------------------------------------------


@pytest.fixture
def failing_endpoint() -> Iterator[tuple[str, list[float]]]:
    """A push endpoint that always answers 500, and the times it was called."""
    hits: list[float] = []

    class Failing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append(time.monotonic())
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", hits
    server.shutdown()
    server.server_close()


def test_a_message_a_push_endpoint_keeps_failing_is_dead_lettered_after_5_attempts(
    project: str, failing_endpoint: tuple[str, list[float]]
) -> None:
    """Measured: attempts at ~0, 1, 4, 7, 10 s, dead-lettered at ~13-16 s.

    The emulator's own push back-off applies (the retry policy's numbers do not change it).
    """
    url, hits = failing_endpoint
    topology = Topology(
        topics=(Topic(name="src"), Topic(name="dlq")),
        subscriptions=(
            Subscription(
                name="src-push",
                topic="src",
                push_endpoint=url,
                dead_letter_topic="dlq",
                max_delivery_attempts=5,
                min_backoff_s=1,
                max_backoff_s=10,
            ),
            Subscription(name="dlq-pull", topic="dlq"),
        ),
    )
    apply_topology(topology, project)
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(f"projects/{project}/topics/src", b"poison").result(timeout=30)
    subscriber = pubsub_v1.SubscriberClient()
    dead: list[Any] = []
    deadline = time.monotonic() + 60
    try:
        while not dead and time.monotonic() < deadline:
            with contextlib.suppress(DeadlineExceeded):  # nothing yet: pull again
                response = subscriber.pull(
                    subscription=f"projects/{project}/subscriptions/dlq-pull",
                    max_messages=10,
                    timeout=5,
                )
                dead = list(response.received_messages)
    finally:
        subscriber.close()
    assert dead, f"not dead-lettered within 60 s; push attempts: {len(hits)}"
    message = dead[0].message
    assert message.data == b"poison"
    assert message.attributes["CloudPubSubDeadLetterSourceSubscription"] == "src-push"
    assert message.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert len(hits) == 5


def test_only_tasks_with_a_callback_reach_the_callbacks_function() -> None:
    topology = topology_for(["openai", "vertex"])
    filters = {s.name: s.filter for s in topology.subscriptions}
    assert filters.pop("task-results-callbacks") == CALLBACK_FILTER
    assert set(filters.values()) == {None}


def test_the_emulator_applies_the_callback_filter_and_a_changed_filter_recreates(
    project: str,
) -> None:
    """The filter is part of the desired state (Pub/Sub cannot change it in place, so a change
    recreates). The emulator stores it but delivers every message (it does not filter): the
    callbacks function acks an event without the attribute unread."""
    topic = Topic(name="results")
    filtered = Subscription(name="results-callbacks", topic="results", filter=CALLBACK_FILTER)
    report = apply_topology(Topology(topics=[topic], subscriptions=[filtered]), project)
    assert "subscriptions/results-callbacks" in report.created
    assert subscription(project, "results-callbacks").filter == CALLBACK_FILTER
    publisher = pubsub_v1.PublisherClient()
    path = publisher.topic_path(project, "results")
    publisher.publish(path, b"without").result(timeout=30)
    publisher.publish(path, b"with", **{CALLBACK_ATTRIBUTE: "1"}).result(timeout=30)
    received = pull_until(project, "results-callbacks", expected=2)
    assert sorted(received) == [b"with", b"without"]  # production Pub/Sub: only b"with"

    unfiltered = filtered.model_copy(update={"filter": None})
    again = apply_topology(Topology(topics=[topic], subscriptions=[unfiltered]), project)
    assert again.updated == ["subscriptions/results-callbacks"]
    assert any("filter changed" in note for note in again.notes)
    assert subscription(project, "results-callbacks").filter == ""


def pull_until(project: str, name: str, expected: int, timeout_s: float = 30.0) -> list[bytes]:
    """Pull (and ack) until `expected` messages came, then one more pull finds nothing more."""
    client = pubsub_v1.SubscriberClient()
    path = f"projects/{project}/subscriptions/{name}"
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            response = client.pull(subscription=path, max_messages=10, timeout=5)
            if response.received_messages:
                got += [m.message.data for m in response.received_messages]
                ack_ids = [m.ack_id for m in response.received_messages]
                client.acknowledge(subscription=path, ack_ids=ack_ids)
        extra = client.pull(subscription=path, max_messages=10, timeout=5)
        got += [m.message.data for m in extra.received_messages]
        return got
    finally:
        client.close()
