"""The production deployment derived from settings: the local topology plus what production
needs (identities, IAM, functions, schedules, Firestore indexes). Pure: no cloud calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.deploy import functions as fns
from infra.deploy.bootstrap import build_accounts, build_bootstrap
from infra.deploy.iam import bindings
from infra.deploy.model import (
    BatchBucket,
    FieldOverride,
    FirestoreIndex,
    Production,
    SchedulerJob,
    Target,
)
from infra.settings import Settings
from infra.topology import (
    MAX_PUSH_TIMEOUT_S,
    PRODUCTION_RETRY,
    Topology,
    build_topology,
    push_functions,
)
from shared.providers.registry import known_providers

INDEXES_FILE = Path(__file__).resolve().parent.parent / "firestore.indexes.json"
REPORT_JOB = "aiexec-weekly-report"
SWEEP_JOB = "aiexec-sweep"
BATCH_JOB = "aiexec-batch"
BATCH_PREFIX = "batch/"  # the batch lane's objects: batch/<job_id>/ (shared/batch/)
TTL_FIELD = "expire_at"  # usage documents expire at this timestamp once TTL is on


def production_topology(settings: Settings, target: Target, push_email: str) -> Topology:
    """The same topology the local stack applies, pushed to the functions' URLs with the push
    identity's OIDC token and production retry back-off (10 s - 600 s)."""
    endpoints = {name: target.function_url(name) for name in push_functions(settings)}
    return build_topology(
        settings, endpoints, retry=PRODUCTION_RETRY, push_service_account=push_email
    )


def scheduler_jobs(settings: Settings) -> tuple[SchedulerJob, ...]:
    return (
        SchedulerJob(
            name=REPORT_JOB,
            schedule=settings.report_schedule,
            time_zone=settings.report_timezone,
            topic=settings.topic_report_requests,
            data="{}",  # the previous ISO week (Scheduler refuses an empty message)
            description="aiexec: weekly usage report",
        ),
        SchedulerJob(
            name=SWEEP_JOB,
            schedule=settings.sweep_schedule,
            time_zone="UTC",
            topic=settings.topic_sweep_requests,
            data="{}",  # any message triggers one sweep
            description="aiexec: re-publish stuck tasks, expire overdue ones",
        ),
        SchedulerJob(
            name=BATCH_JOB,
            schedule=settings.batch_schedule,
            time_zone="UTC",
            topic=settings.topic_batch_requests,
            data="{}",  # any message: the batcher submits, the poller polls
            description="aiexec: batch lane, submit queued batch tasks and poll open jobs",
        ),
    )


def batch_bucket(settings: Settings, target: Target) -> BatchBucket | None:
    """The batch lane's bucket (AIEXEC_BATCH_BUCKET) in the deployment's region, its job files
    deleted after AIEXEC_BATCH_BUCKET_DELETE_AFTER_DAYS; None when no bucket is set."""
    if not settings.batch_bucket:
        return None
    days = settings.batch_bucket_delete_after_days
    return BatchBucket(settings.batch_bucket, target.region, BATCH_PREFIX, days)


def _collections(settings: Settings) -> dict[str, str]:
    """The index file names the default collections; settings may rename them."""
    return {
        "tasks": settings.collection_tasks,
        "usage": settings.collection_usage,
        "reports": settings.collection_reports,
        "rollups": settings.collection_rollups,
        "circuits": settings.collection_circuits,
        "budgets": settings.collection_budgets,
    }


def firestore_setup(
    settings: Settings, path: Path = INDEXES_FILE
) -> tuple[tuple[FirestoreIndex, ...], tuple[FieldOverride, ...]]:
    """Composite indexes and field overrides from the index file (Firebase's format), with
    the TTL policy on raw usage documents when `usage_ttl_days` is set."""
    data: dict[str, Any] = json.loads(path.read_text())
    names = _collections(settings)
    indexes = tuple(
        FirestoreIndex(
            names.get(ix["collectionGroup"], ix["collectionGroup"]),
            tuple((f["fieldPath"], f["order"]) for f in ix["fields"]),
        )
        for ix in data.get("indexes", [])
    )
    overrides = [
        FieldOverride(
            names.get(fo["collectionGroup"], fo["collectionGroup"]),
            fo["fieldPath"],
            indexed=bool(fo.get("indexes", [None])),
            ttl=bool(fo.get("ttl", False)),
        )
        for fo in data.get("fieldOverrides", [])
    ]
    if settings.usage_ttl_days > 0:
        overrides.append(FieldOverride(settings.collection_usage, TTL_FIELD, ttl=True))
    return indexes, tuple(overrides)


def _warnings(settings: Settings) -> tuple[str, ...]:
    known = set(known_providers())
    unknown = [
        f"provider {p!r} has no adapter in shared/providers/registry.py: its worker would "
        "hand every task over"
        for p in settings.providers
        if p not in known
    ]
    long_leases = [
        f"worker-{p}: its lease ({settings.lease_seconds(p):.0f} s = timeout x attempts + "
        f"margin) exceeds the {MAX_PUSH_TIMEOUT_S} s a push-fed function may run; lower "
        f"AIEXEC_{p.upper()}_TIMEOUT_S or AIEXEC_PROVIDER_ATTEMPTS"
        for p in settings.providers
        if settings.lease_seconds(p) > MAX_PUSH_TIMEOUT_S
    ]
    return (*unknown, *long_leases)


def build_production(settings: Settings, target: Target) -> Production:
    """Everything `aiexec deploy` creates, for `settings` in `target`."""
    push = fns.service_account(target, fns.PUSH_ACCOUNT, "signs Pub/Sub pushes (OIDC)")
    topology = production_topology(settings, target, push.email)
    pairs = fns.functions(settings, target, topology, push.email)
    functions = tuple(fn for fn, _ in pairs)
    indexes, overrides = firestore_setup(settings)
    accounts = (push, *(account for _, account in pairs))
    deployer = build_accounts(target)[0]
    bucket = batch_bucket(settings, target)
    runtime = bindings(
        settings,
        target,
        topology,
        functions,
        push,
        accounts=accounts,
        deployer=deployer,
        bucket=bucket,
    )
    return Production(
        target=target,
        settings=settings,
        topology=topology,
        push_account=push,
        service_accounts=accounts,
        functions=functions,
        bindings=runtime,
        jobs=scheduler_jobs(settings),
        indexes=indexes,
        field_overrides=overrides,
        bootstrap=build_bootstrap(settings, target, functions, runtime),
        warnings=_warnings(settings),
        batch_bucket=bucket,
    )
