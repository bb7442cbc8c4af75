"""The deployed functions: one identity each, their sizing, environment and secrets."""

from __future__ import annotations

import hashlib
import json
import math

from pydantic import SecretStr

from infra import bundles
from infra.deploy.model import Function, SecretRef, ServiceAccount, Target
from infra.settings import Settings
from infra.settings_reference import env_name
from infra.topology import (
    BATCH_FUNCTIONS,
    FUNCTION_BATCHER,
    FUNCTION_CALLBACKS,
    FUNCTION_FINALIZER,
    FUNCTION_INGEST,
    FUNCTION_INGEST_EVENTS,
    FUNCTION_POLLER,
    FUNCTION_REPORT,
    FUNCTION_SWEEPER,
    PUSH_START_MARGIN_S,
    Topology,
    push_timeout_s,
    worker_function,
)
from shared.providers.registry import SPECS

ACCOUNT_PREFIX = "aiexec-"
PUSH_ACCOUNT = "push"  # the identity whose OIDC token authenticates every push delivery
MAX_ACCOUNT_ID = 30  # IAM's limit on a service account id
# The variable each provider's worker reads its key from, as its spec declares it; a provider
# without a key in its spec (given a secret anyway) follows the same pattern.
KEY_ENV = {name: spec.key.env for name, spec in SPECS.items() if spec.key is not None}
HTTP_TIMEOUT_MARGIN_S = 30  # ingest's `?wait=` / V2 `POST /` block; then the answer is written
# Settings the deployed functions must not inherit from the deployer's environment: local
# stack plumbing, deploy-only knobs, and secrets (those travel through `--set-secrets` only).
LOCAL_ONLY = frozenset(
    {
        "project_id",
        "providers",
        "provider",
        "pubsub_emulator_host",
        "firestore_emulator_host",
        "simulator_url",
        "ingest_url",
        "state_dir",
        "host",
        "pubsub_port",
        "firestore_port",
        "ingest_port",
        "ingest_events_port",
        "finalizer_port",
        "sweeper_port",
        "report_port",
        "worker_base_port",
        "simulator_port",
        "storage_port",
        "storage_bucket",
        "trace_collector_port",
        "trace_otlp_endpoint",  # the local collector
        "sweep_schedule",
        "batch_bucket_delete_after_days",
        "provider_key_secrets",
        "worker_max_instances",
        "worker_default_max_instances",
        "worker_concurrency",
        "worker_default_concurrency",
        "ingest_concurrency",
        "report_webhook_secret",
        "smtp_password_secret",
        "api_key_pepper",
        "api_key_pepper_secret",
        "callback_secret_name",
        # the callbacks subscription's retry policy (infra/topology.py), not the function's
        "callback_min_backoff_s",
        "callback_max_backoff_s",
    }
)


def key_secret(settings: Settings, provider: str) -> str | None:
    """The secret mounted as `provider`'s API key: AIEXEC_PROVIDER_KEY_SECRETS's entry (empty:
    none), else the one the provider's spec names; None: the provider has no key."""
    if provider in settings.provider_key_secrets:
        return settings.provider_key_secrets[provider] or None
    spec = SPECS.get(provider)
    return spec.key.secret if spec is not None and spec.key is not None else None


def account_id(role: str) -> str:
    """`aiexec-<role>`, shortened with a stable hash when IAM's 30 characters are exceeded."""
    wanted = f"{ACCOUNT_PREFIX}{role}"
    if len(wanted) <= MAX_ACCOUNT_ID:
        return wanted
    digest = hashlib.sha256(role.encode()).hexdigest()[:6]
    return f"{wanted[: MAX_ACCOUNT_ID - 7].rstrip('-')}-{digest}"


def service_account(target: Target, role: str, purpose: str) -> ServiceAccount:
    ident = account_id(role)
    return ServiceAccount(ident, target.service_account_email(ident), purpose)


def _encode(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def runtime_env(settings: Settings, project: str) -> dict[str, str]:
    """Environment every function gets: the project, the chain, and each runtime setting the
    deployer changed from its default (so `AIEXEC_*` set for the deploy reach the functions)."""
    env = {"GOOGLE_CLOUD_PROJECT": project, "AIEXEC_PROVIDERS": ",".join(settings.providers)}
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if name in LOCAL_ONLY or value is None or isinstance(value, SecretStr):
            continue
        if value != info.get_default(call_default_factory=True):
            env[env_name(name, info)] = _encode(value)
    # Spans go to Cloud Trace unless the deployer turned tracing off (AIEXEC_TRACE_EXPORTER=none).
    off = "trace_exporter" in settings.model_fields_set and settings.trace_exporter == "none"
    env["AIEXEC_TRACE_EXPORTER"] = "none" if off else "cloud_trace"
    return env


def threads_env(concurrency: int) -> dict[str, str]:
    """functions-framework serves `THREADS` requests at once (default 4 x CPUs); Google's advice
    for Python: set it to the function's concurrency (cloud.google.com/functions/docs/
    configuring/concurrency, read 2026-11-29). Ingest also caps its waits from it."""
    return {"THREADS": str(concurrency)}


def _sizing(settings: Settings, provider: str) -> tuple[int, int]:
    max_instances = settings.worker_max_instances.get(
        provider, settings.worker_default_max_instances
    )
    concurrency = settings.worker_concurrency.get(provider, settings.worker_default_concurrency)
    return max_instances, concurrency


def _timeout(settings: Settings, topology: Topology, name: str, subscription: str) -> int:
    """The function's `--timeout`: the same budget its subscription's ack deadline derives from
    (`infra.topology.push_timeout_s`), so a delivery is never given up while still running."""
    timeout = push_timeout_s(settings, name)
    ack = topology.subscription(subscription).ack_deadline_s
    if ack < timeout + PUSH_START_MARGIN_S:
        raise ValueError(
            f"{subscription}: ack deadline {ack} s < {name} timeout {timeout} s + margin"
        )
    return timeout


def _worker(
    settings: Settings, target: Target, topology: Topology, provider: str, push: str
) -> tuple[Function, ServiceAccount]:
    name = worker_function(provider)
    account = service_account(target, name, f"runs {name}: calls {provider}")
    subscription = f"{settings.provider_topic(provider)}-worker"
    secrets = _provider_key(settings, provider)
    max_instances, concurrency = _sizing(settings, provider)
    env = runtime_env(settings, target.project) | {"PROVIDER": provider} | threads_env(concurrency)
    function = Function(
        name=name,
        bundle=f"worker-{provider}",
        entry_point="worker",
        service_account=account.email,
        timeout_s=_timeout(settings, topology, name, subscription),
        memory="512Mi",
        cpu="1",
        max_instances=max_instances,
        concurrency=concurrency,
        invokers=(push,),
        push_subscription=subscription,
        env=tuple(sorted(env.items())),
        secrets=secrets,
    )
    return function, account


# The callbacks function POSTs to the clients' own https URLs, anywhere on the internet: a gen2
# function's egress goes straight out (no VPC connector, `--egress-settings` unset), and the
# outbound-URL guard (shared/outbound_urls.py) is what keeps it off private and metadata
# addresses, checked at ingest and again, pinned, at delivery.
CALLBACKS_EGRESS = (
    "egress: the public internet (clients' https callback URLs), no VPC connector; private, "
    "link-local and metadata addresses refused by the outbound-URL guard"
)


def batch_providers(settings: Settings) -> tuple[str, ...]:
    """The chain's providers whose tasks the batch lane submits: a batch API in their spec,
    and the bucket it needs set (Vertex AI: AIEXEC_BATCH_BUCKET); the others run online."""
    return tuple(
        p
        for p in settings.providers
        if p in SPECS
        and (batch := SPECS[p].batch) is not None
        and (settings.batch_bucket or not batch.needs_bucket)
    )


def _provider_key(settings: Settings, provider: str) -> tuple[SecretRef, ...]:
    secret = key_secret(settings, provider)
    if not secret:
        return ()
    return (SecretRef(KEY_ENV.get(provider, f"{provider.upper()}_API_KEY"), secret),)


_NOTES = {
    FUNCTION_CALLBACKS: CALLBACKS_EGRESS,
    FUNCTION_BATCHER: "batch lane: gathers queued batch tasks per provider and model into jobs",
    FUNCTION_POLLER: "batch lane: reads open jobs, finishes their tasks or moves them online",
}


def _handler_secrets(settings: Settings, name: str) -> tuple[SecretRef, ...]:
    if name in BATCH_FUNCTIONS:  # both call the providers' batch APIs (submit; read, cancel)
        return tuple(ref for p in batch_providers(settings) for ref in _provider_key(settings, p))
    if name == FUNCTION_REPORT:
        return _report_secrets(settings)
    if name == FUNCTION_CALLBACKS and settings.callback_secret_name:
        # for clients without a secret of their own (`aiexec keys create` makes one)
        return (SecretRef("AIEXEC_CALLBACK_SECRET", settings.callback_secret_name),)
    return ()


def _report_secrets(settings: Settings) -> tuple[SecretRef, ...]:
    refs = []
    if settings.report_webhook_secret:
        refs.append(SecretRef("AIEXEC_REPORT_WEBHOOK_URL", settings.report_webhook_secret))
    if settings.smtp_password_secret:
        refs.append(SecretRef("AIEXEC_SMTP_PASSWORD", settings.smtp_password_secret))
    return tuple(refs)


def _handler(
    settings: Settings,
    target: Target,
    topology: Topology,
    spec: tuple[str, str, str, str],
    push: str,
) -> tuple[Function, ServiceAccount]:
    """A push-fed function other than a worker: (name, bundle, entry point, subscription)."""
    name, bundle, entry, subscription = spec
    account = service_account(target, name, f"runs {name}")
    sizes = {  # (memory, max instances, concurrency): what each job needs, no more
        FUNCTION_INGEST_EVENTS: ("512Mi", 20, 20),
        FUNCTION_FINALIZER: ("256Mi", 5, 10),
        FUNCTION_SWEEPER: ("256Mi", 1, 1),  # one sweep at a time is the point
        FUNCTION_REPORT: ("1Gi", 1, 1),  # matplotlib; one report at a time
        # one POST of at most callback_timeout_s each, mostly waiting on the receiver
        FUNCTION_CALLBACKS: ("256Mi", 10, 20),
        # one run at a time per trigger: the batcher holds a job's input file (up to the
        # provider's 200 MB) while it uploads it; the poller reads output files line by line
        FUNCTION_BATCHER: ("2Gi", 1, 1),
        FUNCTION_POLLER: ("1Gi", 1, 1),
    }
    memory, max_instances, concurrency = sizes[name]
    function = Function(
        name=name,
        bundle=bundle,
        entry_point=entry,
        service_account=account.email,
        timeout_s=_timeout(settings, topology, name, subscription),
        memory=memory,
        cpu="1",
        max_instances=max_instances,
        concurrency=concurrency,
        invokers=(push,),
        push_subscription=subscription,
        env=tuple(
            sorted((runtime_env(settings, target.project) | threads_env(concurrency)).items())
        ),
        secrets=_handler_secrets(settings, name),
        note=_NOTES.get(name, ""),
    )
    return function, account


def _ingest_http(settings: Settings, target: Target) -> tuple[Function, ServiceAccount]:
    account = service_account(target, FUNCTION_INGEST, "runs ingest (HTTP API)")
    longest_wait = max(settings.wait_max_s, settings.sync_wait_s)
    env = runtime_env(settings, target.project) | threads_env(settings.ingest_concurrency)
    function = Function(
        name=FUNCTION_INGEST,
        bundle="ingest",
        entry_point="ingest_http",
        service_account=account.email,
        timeout_s=math.ceil(longest_wait) + HTTP_TIMEOUT_MARGIN_S,
        memory="512Mi",
        cpu="1",
        max_instances=20,
        concurrency=settings.ingest_concurrency,
        # Public only when ingest itself authenticates callers by API key; otherwise the
        # platform does (IAM): callers need roles/run.invoker, granted by an admin.
        public=settings.api_keys_required,
        env=tuple(sorted(env.items())),
        # Keys are stored as HMACs with this pepper; it never travels as a plain variable.
        secrets=(SecretRef("AIEXEC_API_KEY_PEPPER", settings.api_key_pepper_secret),)
        if settings.api_keys_required
        else (),
    )
    return function, account


def functions(
    settings: Settings, target: Target, topology: Topology, push_email: str
) -> list[tuple[Function, ServiceAccount]]:
    """Every function with its identity, in deploy order: consumers before their producers,
    so nothing publishes to a queue whose subscriber is not deployed yet."""
    tasks, dead = settings.topic_tasks, settings.topic_dead
    handler_specs = {
        FUNCTION_FINALIZER: (FUNCTION_FINALIZER, "finalizer", "finalizer", f"{dead}-finalizer"),
        FUNCTION_INGEST_EVENTS: (
            FUNCTION_INGEST_EVENTS,
            "ingest",
            "ingest_event",
            f"{tasks}-ingest",
        ),
        FUNCTION_SWEEPER: (
            FUNCTION_SWEEPER,
            "sweeper",
            "sweeper",
            f"{settings.topic_sweep_requests}-sweeper",
        ),
        FUNCTION_REPORT: (
            FUNCTION_REPORT,
            "report",
            "report",
            f"{settings.topic_report_requests}-report",
        ),
        FUNCTION_CALLBACKS: (
            FUNCTION_CALLBACKS,
            "callbacks",
            "callbacks",
            f"{settings.topic_results}-callbacks",
        ),
        **{
            name: (name, name, name, f"{settings.topic_batch_requests}-{name}")
            for name in BATCH_FUNCTIONS
        },
    }

    def handler(name: str) -> tuple[Function, ServiceAccount]:
        return _handler(settings, target, topology, handler_specs[name], push_email)

    workers = [
        _worker(settings, target, topology, p, push_email) for p in reversed(settings.providers)
    ]
    return [
        handler(FUNCTION_CALLBACKS),  # consumes task-results, which the others publish
        handler(FUNCTION_FINALIZER),
        *workers,
        handler(FUNCTION_INGEST_EVENTS),
        _ingest_http(settings, target),
        handler(FUNCTION_SWEEPER),
        handler(FUNCTION_REPORT),
        # after the workers and the queues they feed: the poller hands tasks to the online lane
        handler(FUNCTION_POLLER),
        handler(FUNCTION_BATCHER),
    ]


def bundle_names(settings: Settings) -> set[str]:
    return {b.name for b in bundles.bundles(settings)}
