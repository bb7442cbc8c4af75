"""Apply a `Topology` to Pub/Sub (the emulator or a real project), idempotently.

Missing topics and subscriptions are created; a subscription whose push endpoint, ack deadline,
expiration policy, dead-letter policy or retry policy differ is updated in place
(`update_subscription` with a field mask) — so drift such as a console edit back to a 31-day
expiration or a shorter ack deadline is reported and repaired; one whose topic or filter
differs — immutable in Pub/Sub — is deleted and recreated (its backlog is lost; the report says so).
Applying the same topology twice reports everything unchanged.

Topics and subscriptions labelled `managed-by=aiexec` that the topology no longer declares (e.g.
the queue and worker subscription of a provider removed from the chain) are listed as `stale`,
and deleted only with `prune=True`. Resources without the label (a user's own subscription on
`task-results`) are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from infra.topology import DEFAULT_EXPIRATION_TTL_DAYS, Subscription, Topology

# Errors an emulator (or an older API) answers an update it cannot perform with.
_UPDATE_REFUSED = (gexc.InvalidArgument, gexc.MethodNotImplemented, gexc.FailedPrecondition)
_COMPARED_FIELDS = (
    "push_config",
    "ack_deadline_seconds",
    "expiration_policy",
    "dead_letter_policy",
    "retry_policy",
    "labels",
)
# Every topic and subscription the topology creates carries this label, so resources left behind
# by an older topology (a provider removed from the chain) can be recognised as stale.
MANAGED_LABEL = ("managed-by", "aiexec")


@dataclass
class ApplyReport:
    """What `apply_topology` did; entries read `topics/<name>` or `subscriptions/<name>`."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def summary(self) -> str:
        parts = [
            f"{label}: {', '.join(items)}"
            for label, items in (
                ("created", self.created),
                ("updated", self.updated),
                ("deleted", self.deleted),
                ("stale (kept)", self.stale),
            )
            if items
        ]
        parts.append(f"unchanged: {len(self.unchanged)}")
        return "; ".join(parts + self.notes)


@dataclass
class _Clients:
    publisher: Any
    subscriber: Any
    project: str

    def topic_path(self, name: str) -> str:
        return f"projects/{self.project}/topics/{name}"

    def subscription_path(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"


def make_clients(emulator_host: str | None = None) -> tuple[Any, Any]:
    """Publisher and subscriber admin clients; `emulator_host` forces an emulator endpoint.

    Without it the clients honour `PUBSUB_EMULATOR_HOST` (or talk to Google Cloud).
    """
    if emulator_host is None:
        return pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    publisher_transport = PublisherGrpcTransport(channel=grpc.insecure_channel(emulator_host))
    subscriber_transport = SubscriberGrpcTransport(channel=grpc.insecure_channel(emulator_host))
    return (
        pubsub_v1.PublisherClient(transport=publisher_transport),
        pubsub_v1.SubscriberClient(transport=subscriber_transport),
    )


def apply_topology(
    topology: Topology,
    project_id: str,
    *,
    emulator_host: str | None = None,
    prune: bool = False,
) -> ApplyReport:
    """Create/update `topology` in `project_id`; see the module docstring."""
    publisher, subscriber = make_clients(emulator_host)
    clients = _Clients(publisher, subscriber, project_id)
    report = ApplyReport()
    try:
        for topic in topology.topics:
            _apply_topic(clients, topic.name, report)
        for sub in topology.subscriptions:
            _apply_subscription(clients, sub, report)
        _find_stale(clients, topology, report, prune=prune)
    finally:
        subscriber.close()
        publisher.transport.close()
    return report


def _apply_topic(clients: _Clients, name: str, report: ApplyReport) -> None:
    path = clients.topic_path(name)
    try:
        clients.publisher.get_topic(topic=path)
    except gexc.NotFound:
        try:
            clients.publisher.create_topic(request={"name": path, "labels": dict([MANAGED_LABEL])})
        except gexc.AlreadyExists:  # created concurrently: fine
            report.unchanged.append(f"topics/{name}")
            return
        report.created.append(f"topics/{name}")
        return
    report.unchanged.append(f"topics/{name}")


def _desired(clients: _Clients, sub: Subscription) -> Any:
    """The `pubsub_v1.types.Subscription` message for `sub`."""
    message = pubsub_v1.types.Subscription(
        name=clients.subscription_path(sub.name),
        topic=clients.topic_path(sub.topic),
        ack_deadline_seconds=sub.ack_deadline_s,
        push_config=_push_config(sub),
        labels=dict([MANAGED_LABEL]),
        expiration_policy=_expiration_policy(sub),
        filter=sub.filter or "",
    )
    if sub.dead_letter_topic is not None:
        message.dead_letter_policy = pubsub_v1.types.DeadLetterPolicy(
            dead_letter_topic=clients.topic_path(sub.dead_letter_topic),
            max_delivery_attempts=sub.max_delivery_attempts,
        )
    if sub.min_backoff_s is not None:
        message.retry_policy = pubsub_v1.types.RetryPolicy(
            minimum_backoff=timedelta(seconds=sub.min_backoff_s),
            maximum_backoff=timedelta(seconds=sub.max_backoff_s or 0),
        )
    return message


def _expiration_policy(sub: Subscription) -> Any:
    """An expiration policy WITH NO TTL never expires; leaving the policy unset would give
    Pub/Sub's default of 31 days (see infra/topology.py for the source)."""
    if sub.expiration_ttl_days is None:
        return pubsub_v1.types.ExpirationPolicy()
    return pubsub_v1.types.ExpirationPolicy(ttl=timedelta(days=sub.expiration_ttl_days))


def expiration_of(message: Any) -> timedelta | None:
    """A subscription message's effective expiration TTL; None: it never expires."""
    pb = pubsub_v1.types.Subscription.pb(message)
    if not pb.HasField("expiration_policy"):
        return timedelta(days=DEFAULT_EXPIRATION_TTL_DAYS)
    if not pb.expiration_policy.HasField("ttl"):
        return None
    ttl: timedelta = pb.expiration_policy.ttl.ToTimedelta()
    return ttl


def _push_config(sub: Subscription) -> Any:
    config = pubsub_v1.types.PushConfig(push_endpoint=sub.push_endpoint or "")
    if sub.push_endpoint and sub.push_service_account:
        config.oidc_token = pubsub_v1.types.PushConfig.OidcToken(
            service_account_email=sub.push_service_account
        )
    return config


def _fingerprint(message: Any) -> dict[str, object]:
    """The compared fields of a subscription message, as plain comparable values."""
    pb = pubsub_v1.types.Subscription.pb(message)
    retry = None
    if pb.HasField("retry_policy"):
        policy = pb.retry_policy
        retry = (policy.minimum_backoff.ToTimedelta(), policy.maximum_backoff.ToTimedelta())
    dead_letter = None
    if pb.HasField("dead_letter_policy") and pb.dead_letter_policy.dead_letter_topic:
        dead_letter = (
            pb.dead_letter_policy.dead_letter_topic,
            pb.dead_letter_policy.max_delivery_attempts,
        )
    return {
        "topic": pb.topic,
        "filter": pb.filter,
        "push_config": (
            pb.push_config.push_endpoint,
            pb.push_config.oidc_token.service_account_email,
        ),
        "ack_deadline_seconds": pb.ack_deadline_seconds,
        "expiration_policy": expiration_of(message),
        "dead_letter_policy": dead_letter,
        "retry_policy": retry,
        "labels": pb.labels.get(MANAGED_LABEL[0]) == MANAGED_LABEL[1],
    }


def _apply_subscription(clients: _Clients, sub: Subscription, report: ApplyReport) -> None:
    label = f"subscriptions/{sub.name}"
    desired = _desired(clients, sub)
    try:
        existing = clients.subscriber.get_subscription(subscription=desired.name)
    except gexc.NotFound:
        clients.subscriber.create_subscription(request=desired)
        report.created.append(label)
        return
    want, have = _fingerprint(desired), _fingerprint(existing)
    for immutable in ("topic", "filter"):  # Pub/Sub cannot update these in place
        if want[immutable] != have[immutable]:
            _recreate(clients, desired)
            report.updated.append(label)
            report.notes.append(
                f"{label}: {immutable} changed, deleted and recreated (backlog lost)"
            )
            return
    paths = [name for name in _COMPARED_FIELDS if want[name] != have[name]]
    if not paths:
        report.unchanged.append(label)
        return
    desired.labels = {**existing.labels, **desired.labels}  # keep labels others added
    try:
        clients.subscriber.update_subscription(
            request={"subscription": desired, "update_mask": {"paths": paths}}
        )
    except _UPDATE_REFUSED as exc:
        _recreate(clients, desired)
        report.notes.append(
            f"{label}: update of {', '.join(paths)} refused ({exc.message}); "
            "deleted and recreated (backlog lost)"
        )
    report.updated.append(label)


def _recreate(clients: _Clients, desired: Any) -> None:
    clients.subscriber.delete_subscription(subscription=desired.name)
    clients.subscriber.create_subscription(request=desired)


def _is_managed(resource: Any) -> bool:
    return bool(resource.labels.get(MANAGED_LABEL[0]) == MANAGED_LABEL[1])


def _find_stale(clients: _Clients, topology: Topology, report: ApplyReport, *, prune: bool) -> None:
    project = f"projects/{clients.project}"
    declared = {clients.subscription_path(s.name) for s in topology.subscriptions}
    for existing in clients.subscriber.list_subscriptions(project=project):
        if _is_managed(existing) and existing.name not in declared:
            _stale(clients, f"subscriptions/{existing.name.rsplit('/', 1)[-1]}", prune, report)
    declared = {clients.topic_path(t.name) for t in topology.topics}
    for existing in clients.publisher.list_topics(project=project):
        if _is_managed(existing) and existing.name not in declared:
            _stale(clients, f"topics/{existing.name.rsplit('/', 1)[-1]}", prune, report)


def _stale(clients: _Clients, label: str, prune: bool, report: ApplyReport) -> None:
    if not prune:
        report.stale.append(label)
        return
    kind, name = label.split("/", 1)
    if kind == "topics":
        clients.publisher.delete_topic(topic=clients.topic_path(name))
    else:
        clients.subscriber.delete_subscription(subscription=clients.subscription_path(name))
    report.deleted.append(label)
