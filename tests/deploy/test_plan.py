"""The deployment plan, computed offline: dead letters, IAM, invokers, secrets, schedules."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aiexec.cli.main import main
from infra.deploy import Production
from infra.deploy.definition import INDEXES_FILE
from infra.deploy.plan.render import render
from infra.deploy.plan.steps import Command, Step
from infra.topology import PUSH_START_MARGIN_S
from tests.deploy.conftest import NUMBER, PROJECT, REGION, plan, production

pytestmark = pytest.mark.usefixtures("default_settings_env")

REPO = Path(__file__).resolve().parents[2]
PUBSUB_AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
PUSH = f"serviceAccount:aiexec-push@{PROJECT}.iam.gserviceaccount.com"
CHAINS = {
    "default": (None, {"tasks-openai-worker": "tasks-vertex", "tasks-vertex-worker": "tasks-dead"}),
    "three": (
        ["openai", "anthropic", "vertex"],
        {
            "tasks-openai-worker": "tasks-anthropic",
            "tasks-anthropic-worker": "tasks-vertex",
            "tasks-vertex-worker": "tasks-dead",
        },
    ),
}


def chain_production(chain: str) -> Production:
    providers, _ = CHAINS[chain]
    return production(providers=providers) if providers else production()


def members(prod: Production, kind: str, resource: str, role: str) -> set[str]:
    return {b.member for b in prod.bindings_on(kind, resource) if b.role == role}


def commands(steps: list[Step]) -> list[tuple[str, ...]]:
    return [s.action.argv for s in steps if isinstance(s.action, Command)]


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_every_provider_subscription_dead_letters_to_the_next_queue_after_5(chain: str) -> None:
    prod = chain_production(chain)
    expected = CHAINS[chain][1]
    workers = {s.name: s for s in prod.topology.subscriptions if s.name.endswith("-worker")}
    assert {name: s.dead_letter_topic for name, s in workers.items()} == expected
    for sub in workers.values():
        assert sub.max_delivery_attempts == 5
        assert (sub.min_backoff_s, sub.max_backoff_s) == (10, 600)  # production retry
        assert sub.push_service_account == PUSH.removeprefix("serviceAccount:")
        worker = f"worker-{sub.topic.removeprefix('tasks-')}"
        assert sub.push_endpoint == f"https://{REGION}-{PROJECT}.cloudfunctions.net/{worker}"


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_the_pubsub_agent_can_dead_letter(chain: str) -> None:
    """Publisher on each dead-letter topic, subscriber on each source subscription: without
    both, Pub/Sub silently keeps redelivering instead of dead-lettering."""
    prod = chain_production(chain)
    sources = [s for s in prod.topology.subscriptions if s.dead_letter_topic]
    assert {s.name for s in sources} >= set(CHAINS[chain][1])
    for sub in sources:
        assert sub.dead_letter_topic is not None
        assert PUBSUB_AGENT in members(
            prod, "topic", sub.dead_letter_topic, "roles/pubsub.publisher"
        )
        assert PUBSUB_AGENT in members(prod, "subscription", sub.name, "roles/pubsub.subscriber")
    # ... and it mints the push tokens of the push identity, nothing more.
    agent_bindings = {(b.kind, b.role) for b in prod.bindings if b.member == PUBSUB_AGENT}
    assert agent_bindings == {
        ("topic", "roles/pubsub.publisher"),
        ("subscription", "roles/pubsub.subscriber"),
        ("service-account", "roles/iam.serviceAccountTokenCreator"),
    }


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_no_worker_is_publicly_invocable(chain: str) -> None:
    prod, steps = plan(providers=CHAINS[chain][0]) if CHAINS[chain][0] else plan()
    for fn in prod.functions:
        invokers = members(prod, "function", fn.name, "roles/run.invoker")
        if fn.name == "ingest":
            assert invokers == set()  # IAM only: callers are granted by an admin
        else:
            assert invokers == {PUSH}, fn.name
    deploys = {argv[3]: argv for argv in commands(steps) if argv[1:3] == ("functions", "deploy")}
    assert set(deploys) == {fn.name for fn in prod.functions}
    for name, argv in deploys.items():
        assert "--no-allow-unauthenticated" in argv, name
        assert "--allow-unauthenticated" not in argv, name
    granted = [a for a in commands(steps) if "add-invoker-policy-binding" in a]
    assert all(f"--member={PUSH}" in argv for argv in granted)
    assert not any("allUsers" in b.member for b in prod.bindings)


def test_ingest_is_public_only_with_api_keys() -> None:
    prod, steps = plan(api_keys_required=True)
    assert members(prod, "function", "ingest", "roles/run.invoker") == {"allUsers"}
    public = [a for a in commands(steps) if "--allow-unauthenticated" in a]
    assert [argv[3] for argv in public] == ["ingest"]
    for fn in prod.functions:
        if fn.name != "ingest":
            assert "allUsers" not in members(prod, "function", fn.name, "roles/run.invoker")


def test_with_api_keys_ingest_gets_the_pepper_from_secret_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIEXEC_API_KEY_PEPPER", "pepper-from-the-deployer-shell")
    prod, steps = plan(api_keys_required=True)
    assert "pepper-from-the-deployer-shell" not in render(prod, steps)
    by_name = {argv[3]: argv for argv in commands(steps) if argv[1:3] == ("functions", "deploy")}
    # offline, the version is not known yet; a real deploy pins the one current then
    pepper = "--set-secrets=AIEXEC_API_KEY_PEPPER=aiexec-api-key-pepper:<resolved at deploy>"
    assert pepper in by_name["ingest"]
    assert members(
        prod, "secret", "aiexec-api-key-pepper", "roles/secretmanager.secretAccessor"
    ) == {f"serviceAccount:aiexec-ingest@{PROJECT}.iam.gserviceaccount.com"}
    _, without_steps = plan()
    assert not any("PEPPER" in " ".join(argv) for argv in commands(without_steps))


def test_secrets_travel_only_through_secret_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-deployer-local-key")
    monkeypatch.setenv("AIEXEC_SMTP_PASSWORD", "hunter2-smtp")
    prod, steps = plan(report_webhook_secret="report-hook", smtp_password_secret="smtp:3")
    text = render(prod, steps)
    assert "sk-deployer-local-key" not in text
    assert "hunter2-smtp" not in text
    secret_envs = {"OPENAI_API_KEY", "AIEXEC_REPORT_WEBHOOK_URL", "AIEXEC_SMTP_PASSWORD"}
    for fn in prod.functions:
        assert not secret_envs & {name for name, _ in fn.env}, fn.name
        assert not any(re.search(r"KEY|PASSWORD|SECRET|TOKEN", n) for n, _ in fn.env), fn.name
    by_name = {argv[3]: argv for argv in commands(steps) if argv[1:3] == ("functions", "deploy")}
    assert (
        "--set-secrets=OPENAI_API_KEY=aiexec-openai-api-key:<resolved at deploy>"
        in by_name["worker-openai"]
    )
    assert (
        "--set-secrets=AIEXEC_REPORT_WEBHOOK_URL=report-hook:<resolved at deploy>,"
        "AIEXEC_SMTP_PASSWORD=smtp:3" in by_name["report"]
    )  # a version given in the settings is kept as it is
    assert "--clear-secrets" in by_name["worker-vertex"]  # Vertex: the worker's own identity
    accessors = {
        (b.resource, b.member)
        for b in prod.bindings
        if b.role == "roles/secretmanager.secretAccessor"
    }
    assert accessors == {
        *(  # the batch lane calls OpenAI too
            (
                "aiexec-openai-api-key",
                f"serviceAccount:aiexec-{fn}@{PROJECT}.iam.gserviceaccount.com",
            )
            for fn in ("worker-openai", "batcher", "poller")
        ),
        ("report-hook", f"serviceAccount:aiexec-report@{PROJECT}.iam.gserviceaccount.com"),
        ("smtp", f"serviceAccount:aiexec-report@{PROJECT}.iam.gserviceaccount.com"),
        (
            "aiexec-callback-secret",
            f"serviceAccount:aiexec-callbacks@{PROJECT}.iam.gserviceaccount.com",
        ),
    }


def test_scheduler_jobs_cron_and_time_zone() -> None:
    jobs = {job.name: job for job in production().jobs}
    report, sweep = jobs["aiexec-weekly-report"], jobs["aiexec-sweep"]
    assert (report.topic, report.schedule, report.time_zone) == (
        "usage-report-requests", "0 8 * * 1", "UTC",
    )  # fmt: skip
    assert (sweep.topic, sweep.schedule) == ("sweep-requests", "*/5 * * * *")
    zoned = {j.name: j for j in production(report_timezone="Europe/Berlin").jobs}
    assert zoned["aiexec-weekly-report"].time_zone == "Europe/Berlin"
    batch = jobs["aiexec-batch"]
    batch_job = (batch.topic, batch.schedule, batch.time_zone)
    assert batch_job == ("batch-requests", "*/5 * * * *", "UTC")
    every_minute = {j.name: j for j in production(batch_schedule="* * * * *").jobs}
    assert every_minute["aiexec-batch"].schedule == "* * * * *"
    # the scheduler's agent may publish to exactly the three trigger topics
    agent = f"serviceAccount:service-{NUMBER}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
    topics = {b.resource for b in production().bindings if b.member == agent}
    assert topics == {"usage-report-requests", "sweep-requests", "batch-requests"}


def test_each_identity_publishes_only_where_its_code_does() -> None:
    prod = production()
    publishers: dict[str, set[str]] = {}
    for b in prod.bindings:
        if b.role == "roles/pubsub.publisher" and "aiexec-" in b.member:
            publishers.setdefault(
                b.member.split("@")[0].removeprefix("serviceAccount:"), set()
            ).add(b.resource)
    queues = {"tasks-openai", "tasks-vertex"}
    assert publishers == {
        "aiexec-ingest": queues,
        "aiexec-ingest-events": queues,
        "aiexec-worker-openai": queues | {"tasks-dead", "task-results"},
        "aiexec-worker-vertex": queues | {"tasks-dead", "task-results"},
        "aiexec-sweeper": queues | {"tasks-dead", "task-results"},
        "aiexec-finalizer": {"task-results"},
        # the batch lane finishes tasks, or moves them to the online lane
        "aiexec-batcher": queues | {"tasks-dead", "task-results"},
        "aiexec-poller": queues | {"tasks-dead", "task-results"},
    }
    project_roles = {(b.member, b.role) for b in prod.bindings if b.kind == "project"}
    assert {role for _, role in project_roles} == {
        "roles/datastore.user", "roles/aiplatform.user", "roles/storage.objectViewer",
        "roles/cloudtrace.agent",
    }  # fmt: skip
    # Every function exports its spans to Cloud Trace (shared/tracing.py).
    tracers = {m for m, r in project_roles if r == "roles/cloudtrace.agent"}
    assert tracers == {f"serviceAccount:{fn.service_account}" for fn in prod.functions}
    aiplatform = [m for m, r in project_roles if r == "roles/aiplatform.user"]
    assert aiplatform == [f"serviceAccount:aiexec-worker-vertex@{PROJECT}.iam.gserviceaccount.com"]
    # Attachments: ingest checks a gs:// object, the workers read it; nobody else.
    readers = {m.split("@")[0] for m, r in project_roles if r == "roles/storage.objectViewer"}
    assert readers == {
        "serviceAccount:aiexec-ingest", "serviceAccount:aiexec-ingest-events",
        "serviceAccount:aiexec-worker-openai", "serviceAccount:aiexec-worker-vertex",
    }  # fmt: skip


def test_function_timeouts_fit_their_ack_deadlines_and_sizing_comes_from_settings() -> None:
    prod = production(worker_max_instances="openai=3", worker_concurrency="vertex=2")
    for fn in prod.functions:
        if fn.push_subscription:
            assert prod.topology.subscription(fn.push_subscription).ack_deadline_s >= fn.timeout_s
    assert (
        prod.function("worker-openai").max_instances,
        prod.function("worker-openai").concurrency,
    ) == (3, 8)
    assert (
        prod.function("worker-vertex").max_instances,
        prod.function("worker-vertex").concurrency,
    ) == (10, 2)
    assert dict(prod.function("worker-vertex").env)["PROVIDER"] == "vertex"


def test_deploy_order_puts_consumers_first_and_schedules_last() -> None:
    _, steps = plan()
    phases = list(dict.fromkeys(s.phase for s in steps))
    assert phases == [
        "project roles", "firestore", "pub/sub topology", "pub/sub IAM", "source bundles",
        "monitoring: log-based metrics", "monitoring: notification channels",
        "monitoring: alert policies", "monitoring: dashboard",
        "functions", "invokers", "scheduler",
    ]  # fmt: skip
    deployed = [argv[3] for argv in commands(steps) if argv[1:3] == ("functions", "deploy")]
    assert deployed == [
        "callbacks", "finalizer", "worker-vertex", "worker-openai", "ingest-events", "ingest",
        "sweeper", "report", "poller", "batcher",
    ]  # fmt: skip


def test_indexes_cover_the_queries_in_the_code() -> None:
    """Each `store.query(status, FIELD, ...)` / `query_since(status, FIELD, ...)` call needs a
    (status, FIELD) composite index; the calls are read from the code, so a new one fails here."""
    calls = (REPO / "shared" / "sweeper.py").read_text() + (
        REPO / "aiexec" / "cli" / "operations.py"
    ).read_text()
    fields = set(re.findall(r"\.query(?:_since)?\([^,]+,\s*\"(\w+)\"", calls))
    assert fields >= {"deadline_at", "lease_until", "updated_at", "completed_at"}
    indexed = {ix.fields for ix in production().indexes if ix.collection == "tasks"}
    for field in fields:
        assert (("status", "ASCENDING"), (field, "ASCENDING")) in indexed, field
    # `aiexec tasks` / `results` (aiexec/client): a status filter, newest first by creation
    # time, or oldest first by completion time
    for field, order in (("created_at", "DESCENDING"), ("completed_at", "ASCENDING")):
        assert (("status", "ASCENDING"), (field, order)) in indexed, field
    # A client's month of budget summed over its shards by field (shared/firestore/budgets.py
    # `committed_total`): sum() scans an index holding the summed field.
    budgets = {ix.fields for ix in production().indexes if ix.collection == "budgets"}
    month = (("client_id", "ASCENDING"), ("month", "ASCENDING"))
    assert (*month, ("committed_nusd", "ASCENDING")) in budgets
    assert INDEXES_FILE.name == "firestore.indexes.json"
    ttl = [o for o in production(usage_ttl_days=30).field_overrides if o.ttl]
    assert [(o.collection, o.field) for o in ttl] == [("usage", "expire_at")]
    assert not any(o.ttl for o in production().field_overrides)


def test_unknown_provider_is_a_warning_in_the_plan() -> None:
    assert chain_production("three").warnings == ()  # every provider of it is registered
    prod = production(providers=["openai", "mistral", "vertex"])  # mistral: not registered
    assert len(prod.warnings) == 1 and "mistral" in prod.warnings[0]
    assert "WARNING" in render(prod, plan(providers=["openai", "mistral", "vertex"])[1])


# --- the CLI: no credentials, no network ----------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No sockets, no subprocesses, no credentials: a dry run must not need any."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a dry run must not touch the network or run commands: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
    monkeypatch.setenv("CLOUDSDK_CONFIG", "/nonexistent/gcloud")


@pytest.mark.usefixtures("offline")
def test_dry_run_prints_the_complete_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["deploy", "--project", PROJECT, "--region", REGION, "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    prod = production()
    for thing in [
        *(sa.email for sa in prod.service_accounts),
        *(t.name for t in prod.topology.topics),
        *(f"subscription {s.name}:" for s in prod.topology.subscriptions),
        *(b.role for b in prod.bindings),
        *(f"gcloud functions deploy {fn.name}" for fn in prod.functions),
        "job aiexec-weekly-report: cron '0 8 * * 1' (UTC)",
        "service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com",
    ]:
        assert thing in out, thing


@pytest.mark.usefixtures("offline")
def test_dry_run_with_a_three_provider_chain(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["deploy", "--project", PROJECT, "--region", REGION, "--dry-run"]
    assert main([*argv, "--providers", "openai,anthropic,vertex"]) == 0
    out = capsys.readouterr().out
    assert "provider chain: openai → anthropic → vertex → tasks-dead" in out
    assert "dead letter tasks-anthropic after 5" in out
    assert "gcloud functions deploy worker-anthropic" in out


def test_a_real_deploy_refuses_the_local_stack_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")
    argv = ["deploy", "--project", PROJECT, "--region", REGION]
    assert main(argv) == 2
    assert "PUBSUB_EMULATOR_HOST" in capsys.readouterr().err


def test_every_function_runs_as_an_identity_of_its_own() -> None:
    """Never the Compute Engine default account (what a function without
    `--service-account` runs as): one `aiexec-*` identity per function, none shared, none a
    build account, each created by the bootstrap."""
    for providers in (None, ["openai", "anthropic", "vertex"]):
        prod = production(providers=providers) if providers else production()
        accounts = [fn.service_account for fn in prod.functions]
        assert len(set(accounts)) == len(accounts)
        build = {sa.email for sa in prod.bootstrap.accounts}
        for fn in prod.functions:
            assert fn.service_account.startswith("aiexec-"), fn.name
            assert fn.service_account.endswith(f"@{PROJECT}.iam.gserviceaccount.com")
            assert "compute@developer" not in fn.service_account
            assert fn.service_account not in build
        created = {sa.email for sa in prod.service_accounts}
        assert set(accounts) <= created
        assert prod.push_account.email in created and prod.push_account.email not in accounts


# --- the callbacks function ---------------------------------------------------------------

CALLBACKS_ACCOUNT = f"aiexec-callbacks@{PROJECT}.iam.gserviceaccount.com"


def test_the_callbacks_function_runs_within_its_subscriptions_ack_deadline() -> None:
    """One POST (callback_timeout_s) and a few Firestore writes: its `--timeout` is the push
    budget its subscription's ack deadline derives from, whatever the POST's timeout."""
    for timeout_s in (10.0, 45.0, 60.0):
        prod = production(callback_timeout_s=timeout_s)
        fn = prod.function("callbacks")
        sub = prod.topology.subscription("task-results-callbacks")
        assert fn.push_subscription == sub.name and sub.topic == "task-results"
        assert fn.timeout_s >= timeout_s + 15  # the claim's margin over the POST
        assert sub.ack_deadline_s == fn.timeout_s + PUSH_START_MARGIN_S <= 600
        assert (fn.bundle, fn.entry_point, fn.memory) == ("callbacks", "callbacks", "256Mi")
        assert (fn.max_instances, fn.concurrency) == (10, 20)
        assert dict(fn.env)["THREADS"] == "20"


def test_the_callbacks_function_has_its_own_least_privileged_identity() -> None:
    prod = production(api_keys_required=True)
    fn = prod.function("callbacks")
    assert fn.service_account == CALLBACKS_ACCOUNT
    assert CALLBACKS_ACCOUNT in {sa.email for sa in prod.service_accounts}
    mine = [b for b in prod.bindings if b.member == f"serviceAccount:{CALLBACKS_ACCOUNT}"]
    assert {(b.kind, b.resource, b.role) for b in mine} == {
        ("project", PROJECT, "roles/datastore.user"),  # tasks, and api_keys' client secrets
        ("project", PROJECT, "roles/cloudtrace.agent"),  # its spans
        ("secret", "aiexec-callback-secret", "roles/secretmanager.secretAccessor"),
    }
    [firestore] = [b for b in mine if b.role == "roles/datastore.user"]
    assert firestore.condition is not None
    assert firestore.condition.expression == (
        f'resource.name == "projects/{PROJECT}/databases/(default)"'
    )
    # it publishes nothing, reads no attachment, and only the push identity may invoke it
    assert not fn.public
    assert {b.member for b in prod.bindings_on("function", "callbacks")} == {PUSH}
    sub = prod.topology.subscription("task-results-callbacks")
    assert sub.push_service_account == PUSH.removeprefix("serviceAccount:")
    assert sub.push_endpoint == f"https://{REGION}-{PROJECT}.cloudfunctions.net/callbacks"
    assert sub.dead_letter_topic is None  # attempts are counted on the task


def test_the_callback_secret_comes_from_secret_manager_only() -> None:
    _, steps = plan(callback_secret_name="acme-hooks")
    [deploy] = [a for a in commands(steps) if a[1:4] == ("functions", "deploy", "callbacks")]
    assert "--set-secrets=AIEXEC_CALLBACK_SECRET=acme-hooks:<resolved at deploy>" in deploy
    env = " ".join(a for a in deploy if a.startswith(("--set-env-vars", "'--set-env-vars")))
    assert "CALLBACK_SECRET" not in env and "acme-hooks" not in env
    # the deploy section's setting, never passed to a function
    assert "AIEXEC_CALLBACK_SECRET_NAME" not in {
        name for fn in production(callback_secret_name="acme-hooks").functions for name, _ in fn.env
    }
    # empty: nothing mounted (only clients with their own secret get callbacks)
    _, none = plan(callback_secret_name="")
    [bare] = [a for a in commands(none) if a[1:4] == ("functions", "deploy", "callbacks")]
    assert "--clear-secrets" in bare


def test_the_callbacks_subscription_takes_its_retry_policy_from_the_settings() -> None:
    """In production the callbacks subscription's back-off is the callback settings' (the
    retry schedule of a receiver that is down); every other push subscription keeps the
    production 10-600 s; locally every subscription keeps the short local one."""
    from infra.settings import Settings
    from infra.topology import LOCAL_RETRY, build_topology, push_functions

    prod = production(callback_min_backoff_s=30, callback_max_backoff_s=300)
    subs = {s.name: s for s in prod.topology.subscriptions if s.is_push}
    assert (subs["task-results-callbacks"].min_backoff_s,
            subs["task-results-callbacks"].max_backoff_s) == (30, 300)  # fmt: skip
    others = {(s.min_backoff_s, s.max_backoff_s) for n, s in subs.items() if "callbacks" not in n}
    assert others == {(10, 600)}
    settings = Settings(callback_min_backoff_s=30, callback_max_backoff_s=300)
    endpoints = {name: f"http://127.0.0.1:1/{name}" for name in push_functions(settings)}
    local = build_topology(settings, endpoints)
    assert {(s.min_backoff_s, s.max_backoff_s) for s in local.subscriptions if s.is_push} == {
        (LOCAL_RETRY.min_backoff_s, LOCAL_RETRY.max_backoff_s)
    }


@pytest.mark.usefixtures("offline")
def test_dry_run_shows_the_callbacks_function_and_its_egress(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["deploy", "--project", PROJECT, "--region", REGION, "--dry-run"]) == 0
    out = capsys.readouterr().out
    for text in (
        f"- callbacks (pushed by task-results-callbacks; IAM only; runs as {CALLBACKS_ACCOUNT})",
        "- egress: the public internet (clients' https callback URLs), no VPC connector",
        "subscription task-results-callbacks: task-results → push "
        f"https://{REGION}-{PROJECT}.cloudfunctions.net/callbacks (OIDC aiexec-push@",
        'retry 10-600 s filter attributes.callback = "1"',  # only tasks with a callback
        "build/functions/callbacks: functions/callbacks/main.py",
        "AIEXEC_CALLBACK_SECRET=aiexec-callback-secret:<resolved at deploy>",
        f"secret aiexec-callback-secret: roles/secretmanager.secretAccessor → "
        f"serviceAccount:{CALLBACKS_ACCOUNT}",
    ):
        assert text in out, text
