"""The deployment as steps (what the deployer's build applies), in dependency order: the
identities' project roles, Firestore before the code that queries it, the topology before its
IAM, the source bundles, the log-based metrics (counting before the functions log), alert
policies and dashboard, the functions before their invokers, and the Cloud Scheduler jobs
(the first producers of traffic) last."""

from __future__ import annotations

from infra import bundles
from infra.deploy.model import FieldOverride, Production, SchedulerJob
from infra.deploy.plan.functions import function_steps, revoke_public_steps
from infra.deploy.plan.iam_steps import binding_steps
from infra.deploy.plan.monitoring import monitoring_steps
from infra.deploy.plan.steps import Call, Step
from infra.topology import Subscription, Topology

_ORDER = {"ASCENDING": "asc", "DESCENDING": "desc"}


def _pubsub_iam(prod: Production) -> list[Step]:
    """One policy update per (resource, role): the members it must hold."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for b in prod.bindings:
        if b.kind in ("topic", "subscription"):
            grouped.setdefault((b.kind, b.resource, b.role), []).append(b.member)
    return [
        Step(
            "pub/sub IAM",
            f"{kind} {resource}: {role} → {', '.join(members)}",
            Call("google-cloud-pubsub", "iam", (kind, resource, role, tuple(members))),
        )
        for (kind, resource, role), members in grouped.items()
    ]


def describe_subscription(sub: Subscription) -> str:
    parts = [f"subscription {sub.name}: {sub.topic} →"]
    parts.append(f"push {sub.push_endpoint}" if sub.push_endpoint else "pull")
    if sub.push_service_account:
        parts.append(f"(OIDC {sub.push_service_account})")
    parts.append(f"ack {sub.ack_deadline_s} s")
    if sub.expiration_ttl_days is None:
        parts.append("never expires")
    else:
        parts.append(f"expires after {sub.expiration_ttl_days} days idle")
    if sub.min_backoff_s is not None:
        parts.append(f"retry {sub.min_backoff_s}-{sub.max_backoff_s} s")
    if sub.dead_letter_topic:
        parts.append(f"dead letter {sub.dead_letter_topic} after {sub.max_delivery_attempts}")
    if sub.filter:
        parts.append(f"filter {sub.filter}")
    return " ".join(parts)


def _topology(topology: Topology) -> list[Step]:
    lines = [f"topic {t.name}" for t in topology.topics]
    lines += [describe_subscription(s) for s in topology.subscriptions]
    return [
        Step(
            "pub/sub topology",
            "\n".join(lines),
            Call("google-cloud-pubsub", "topology", topology),
        )
    ]


def _firestore(prod: Production) -> list[Step]:
    steps = []
    for index in prod.indexes:
        fields = ", ".join(f"{path} {_ORDER[order]}" for path, order in index.fields)
        steps.append(
            Step(
                "firestore",
                f"composite index {index.collection} ({fields})",
                Call("google-cloud-firestore", "index", index),
            )
        )
    for override in prod.field_overrides:
        steps.append(
            Step(
                "firestore",
                _describe_override(override),
                Call("google-cloud-firestore", "field", override),
            )
        )
    return steps


def _describe_override(override: FieldOverride) -> str:
    what = "TTL policy (documents expire at its time)" if override.ttl else "not indexed"
    return f"field {override.collection}.{override.field}: {what}"


def _bundles(prod: Production) -> list[Step]:
    lock = bundles.load_lock()
    steps = []
    for bundle in bundles.bundles(prod.settings):
        pinned = len(bundles.closure(lock, bundle.requirements))
        text = (
            f"{bundles.BUILD_DIR / bundle.name}: {bundle.entry} as main.py + shared/ + "
            f"requirements.txt ({', '.join(bundle.requirements)}; {pinned} pinned from uv.lock)"
        )
        steps.append(Step("source bundles", text, Call("local", "bundle", bundle)))
    return steps


def _scheduler(jobs: tuple[SchedulerJob, ...]) -> list[Step]:
    return [
        Step(
            "scheduler",
            f"job {job.name}: cron {job.schedule!r} ({job.time_zone}) → topic {job.topic}, "
            f"data {job.data}",
            Call("google-cloud-scheduler", "job", job),
        )
        for job in jobs
    ]


def build_plan(prod: Production) -> list[Step]:
    """Every step after the bootstrap, in the order `aiexec deploy` runs them."""
    return [
        *binding_steps(prod, "project roles", ("project",)),
        *_firestore(prod),
        *_topology(prod.topology),
        *_pubsub_iam(prod),
        *_bundles(prod),
        *monitoring_steps(prod),
        *function_steps(prod),
        *binding_steps(prod, "invokers", ("function",)),
        *revoke_public_steps(prod),
        *_scheduler(prod.jobs),
    ]
