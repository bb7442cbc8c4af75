"""Cloud Monitoring in the deploy plan: the log-based metrics match the lines the code really
logs (each filter evaluated on emitted lines, each label and value field present), the alert
policies are shown by the dry run and applied idempotently, and the dashboard charts only
metrics the plan declares or Google reports."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiexec.cli.main import main
from infra.deploy.apply import Applier
from infra.deploy.monitoring import (
    BUILTIN_METRICS,
    DASHBOARD_FILE,
    LOG_METRICS,
    USER_METRIC_PREFIX,
    alert_policies,
)
from infra.deploy.plan.monitoring import monitoring_steps
from infra.deploy.plan.steps import Call
from infra.settings import Settings
from shared import worker as worker_module
from shared.batch.jobs import Lane
from shared.batch.outcomes import LaneExits
from shared.batch.provider import LineResult
from shared.circuit import CircuitState, CircuitView
from shared.events import DEAD_LETTER_SOURCE_ATTR, PubSubMessage
from shared.finalizer import Finalizer
from shared.ingest import Ingest
from shared.model_lifecycle import configured_models
from shared.providers.base import Completion, TransientError
from shared.schemas import FieldProblem, TaskRequest
from shared.sweep_observations import observe
from tests.deploy.conftest import PROJECT, REGION, FakeGcloud, production
from tests.deploy.log_filters import captured_lines, counted, metric
from tests.unit.worker_fakes import OK, FakeBus, FakeStore, run

pytestmark = pytest.mark.usefixtures("default_settings_env")


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(worker_module, "pause", recorded.append)  # no real back-off
    return recorded


@pytest.fixture
def emitted() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    with captured_lines() as entries:
        yield entries


# --- the metrics on what the code logs --------------------------------------------------


def test_a_fallback_task_is_counted_by_status_lane_and_fallback_with_its_calls(
    emitted: Callable[[], list[dict[str, Any]]], sleeps: list[float]
) -> None:
    """The worker's real lines: vertex (first in the chain) failed before, openai retries a
    transient error and answers; the task finished through a fallback."""
    store = FakeStore(
        chain=["vertex", "openai"],
        attempts=[{"provider": "vertex", "model": "gemini-x", "outcome": "provider_fatal"}],
    )
    outcome, _, _, _ = run([TransientError("rate_limited", "busy"), OK], store, hop=1,
                           chain=("vertex", "openai"))  # fmt: skip
    assert outcome == "succeeded"
    entries = emitted()
    calls = counted(metric("aiexec_provider_call_latency"), entries)
    assert [(c["provider"], c["outcome"]) for c in calls] == [
        ("openai", "transient"), ("openai", "ok")
    ]  # fmt: skip
    assert all(c["lane"] == "online" and c["model"] == "gpt-6.1-terra" for c in calls)
    errors = counted(metric("aiexec_provider_call_errors"), entries)
    assert [e["error_code"] for e in errors] == ["rate_limited"]
    (finished,) = counted(metric("aiexec_tasks_finished"), entries)
    assert {k: finished[k] for k in ("status", "lane", "provider", "fallback")} == {
        "status": "succeeded", "lane": "online", "provider": "openai", "fallback": "yes"
    }  # fmt: skip
    failed = 'metric.label.status="failed"'
    assert failed in alert_policies(Settings(), PROJECT)[2].body["conditions"][0][
        "conditionThreshold"]["filter"]  # fmt: skip


def test_a_batch_task_on_its_first_provider_is_no_fallback(
    emitted: Callable[[], list[dict[str, Any]]], sleeps: list[float]
) -> None:
    store = FakeStore(
        chain=["openai", "vertex"], request={"task_description": "x", "mode": "batch"}
    )
    run([OK], store)
    (finished,) = counted(metric("aiexec_tasks_finished"), emitted())
    assert (finished["lane"], finished["fallback"]) == ("batch", "no")


class _Creation:
    def __init__(self, task: dict[str, Any]) -> None:
        self.result = (task, True)


class _IngestStore:
    """What ingest asks of the store for a batch task (no circuits read, nothing published)
    and for a refused message."""

    client = None

    def doc_id(self, task_id: str, client_id: str) -> str:
        return task_id

    def creation(self, task_id: str, client_id: str, body: dict[str, Any], chain: list[str],
                 skipped: list[Any], **kwargs: Any) -> _Creation:  # fmt: skip
        return _Creation({"task_id": task_id, "status": "queued", "request": body, "chain": chain})

    def commit_creation(self, creation: _Creation) -> None:
        pass

    def record_rejection(self, task_id: str, *args: Any, **kw: Any) -> dict[str, Any]:
        return {"task_id": task_id, "status": "rejected"}


def test_ingest_counts_an_accepted_task_by_lane_and_a_refused_message_by_code(
    emitted: Callable[[], list[dict[str, Any]]],
) -> None:
    ingest = Ingest(Settings(), _IngestStore(), FakeBus())  # type: ignore[arg-type]
    request = TaskRequest(task_description="hi", mode="batch", deadline_s=7200)
    assert ingest.submit(request, "acme").created
    problem = FieldProblem(code="invalid_json", message="not JSON")
    assert ingest.reject_message(b'{"task_id": "t-2", ', problem, "acme") is False
    entries = emitted()
    (accepted,) = counted(metric("aiexec_tasks_accepted"), entries)
    assert accepted["lane"] == "batch"
    (rejected,) = counted(metric("aiexec_tasks_rejected"), entries)
    assert rejected["code"] == "invalid_json"


class _BatchJobs:
    """The poller's store: settles one batched task as the transaction would."""

    def __init__(self, task: dict[str, Any]) -> None:
        self.task = task

    def settle(self, doc_id: str, job_id: str, decide: Callable[..., Any]) -> dict[str, Any]:
        update: dict[str, Any] = decide(self.task).update
        return self.task | update


def test_a_task_the_batch_lane_answers_is_counted_in_its_lane(
    emitted: Callable[[], list[dict[str, Any]]],
) -> None:
    now = datetime.now(UTC)
    task = {"task_id": "t-1", "client_id": "c", "chain": ["openai", "vertex"], "hop": 0,
            "status": "batched", "mode": "batch", "request": {"task_description": "hi"},
            "attempts": [], "batch": {"job_id": "bj_x", "submitted_at": now}}  # fmt: skip
    exits = LaneExits(Settings(), _BatchJobs(task), FakeBus())  # type: ignore[arg-type]
    line = LineResult("t-1", completion=Completion("yes", "gpt-6.1-terra", "stop", 10, 5, 15))
    assert exits.answered("t-1", "bj_x", Lane("openai", "gpt-6.1-terra"), line, now) == "succeeded"
    (finished,) = counted(metric("aiexec_tasks_finished"), emitted())
    assert {k: finished[k] for k in ("status", "lane", "provider", "fallback", "job_id")} == {
        "status": "succeeded", "lane": "batch", "provider": "openai", "fallback": "no",
        "job_id": "bj_x",
    }  # fmt: skip


class _DeadStore:
    """The finalizer's store: one task, failed once."""

    def __init__(self) -> None:
        self.task = {"task_id": "t9", "status": "running", "chain": ["openai"], "attempts": []}

    def get(self, doc_id: str) -> dict[str, Any]:
        return self.task

    def fail(self, doc_id: str, error: dict[str, str]) -> dict[str, Any]:
        return self.task | {"status": "failed", "error": error}


def test_a_dead_lettered_task_is_counted_and_its_failure_too(
    emitted: Callable[[], list[dict[str, Any]]],
) -> None:
    data = json.dumps({"v": 1, "task_id": "t9", "chain": ["openai"], "hop": 0}).encode()
    message = PubSubMessage(data, "m1", {DEAD_LETTER_SOURCE_ATTR: "tasks-openai-worker"})
    finalizer = Finalizer(Settings(), _DeadStore(), FakeBus())  # type: ignore[arg-type]
    assert finalizer.process(message) == "failed"
    entries = emitted()
    (dead,) = counted(metric("aiexec_dead_lettered"), entries)
    assert dead["subscription"] == "tasks-openai-worker"
    (finished,) = counted(metric("aiexec_tasks_finished"), entries)
    assert (finished["status"], finished["error_code"]) == ("failed", "dead_lettered")


class _Snap:
    def __init__(self, name: str, doc: dict[str, Any]) -> None:
        self.id, self.doc = name, doc

    def to_dict(self) -> dict[str, Any]:
        return self.doc


class _Circuits:
    """What `circuit_states` reads: the `circuits` collection of a Firestore client."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs

    def collection(self, name: str) -> _Circuits:
        return self

    def stream(self) -> list[Any]:
        return [_Snap(name, doc) for name, doc in self.docs.items()]


def test_a_sweep_reports_a_circuit_open_for_five_minutes(
    emitted: Callable[[], list[dict[str, Any]]],
) -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    # vertex failed its probe a minute ago, but has been skipped for six minutes
    vertex = CircuitView(CircuitState.OPEN, 1, 0, now, now - timedelta(minutes=1),
                         open_since=now - timedelta(minutes=6))  # fmt: skip
    observe(Settings(), _Circuits({"vertex": vertex.as_dict()}), now)
    entries = emitted()
    states = counted(metric("aiexec_circuit_state"), entries)
    assert {(s["provider"], s["state"]) for s in states} == {
        ("openai", "closed"),
        ("vertex", "open"),
    }
    (long_open,) = counted(metric("aiexec_circuit_open_long"), entries)
    assert long_open["provider"] == "vertex" and long_open["open_for_s"] == 360.0
    # a minute less and the alert's metric counts nothing
    recent = CircuitView(CircuitState.OPEN, 1, 0, now, now, open_since=now - timedelta(minutes=4))
    observe(Settings(), _Circuits({"vertex": recent.as_dict()}), now)
    assert len(counted(metric("aiexec_circuit_open_long"), emitted())) == 1


def test_a_sweep_reports_a_configured_model_within_30_days_of_its_shutdown(
    emitted: Callable[[], list[dict[str, Any]]],
) -> None:
    settings = Settings(openai_model="gpt-5")  # a model the catalog gives a shutdown date
    (shutdown,) = {
        m.status.shutdown_date for m in configured_models(settings) if m.model == "gpt-5"
    }
    assert shutdown is not None
    noon = datetime(shutdown.year, shutdown.month, shutdown.day, 12, tzinfo=UTC)
    observe(settings, _Circuits({}), noon - timedelta(days=45))
    assert counted(metric("aiexec_model_near_shutdown"), emitted()) == []
    observe(settings, _Circuits({}), noon - timedelta(days=20))
    (near,) = counted(metric("aiexec_model_near_shutdown"), emitted())
    assert (near["provider"], near["model"], near["days_left"]) == ("openai", "gpt-5", 20)


# --- the plan ---------------------------------------------------------------------------


def test_the_dry_run_shows_the_metrics_the_channel_the_six_policies_and_the_dashboard(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIEXEC_ALERT_EMAIL", "oncall@example.com")
    monkeypatch.setenv("AIEXEC_ALERT_FAILURE_RATE", "0.25")
    assert main(["deploy", "--project", PROJECT, "--region", REGION, "--dry-run"]) == 0
    out = capsys.readouterr().out
    for metric_ in LOG_METRICS:
        assert f"$ gcloud logging metrics create {metric_.name} \\" in out, metric_.name
        assert f"filter {metric_.filter}" in out
    for policy in (
        "aiexec: a task dead-lettered",
        "aiexec: a circuit open for more than 5 minutes",
        "aiexec: task failure rate over threshold: aiexec_tasks_finished status=failed / all "
        "> 0.25 over 15 min → oncall@example.com",
        "aiexec: a client at 80 % of its budget",
        "aiexec: a client at 100 % of its budget",
        "aiexec: a configured model within 30 days of shutdown",
    ):
        assert f"- {policy}" in out, policy
    assert out.count("$ gcloud alpha monitoring policies create") == 6
    assert "$ gcloud alpha monitoring channels create" in out
    assert "--channel-labels=email_address=oncall@example.com" in out
    assert "--config-from-file=infra/monitoring/dashboard.json" in out
    # metrics before the functions that log their lines, the functions after the alerts
    assert out.index("## monitoring: log-based metrics") < out.index("## functions")


def test_without_a_channel_the_policies_open_incidents_only() -> None:
    policies = alert_policies(Settings(), PROJECT)
    assert [p.config()["notificationChannels"] for p in policies] == [[]] * 6
    named = alert_policies(Settings(alert_channels="123,projects/x/notificationChannels/9"), "p")
    assert named[0].config()["notificationChannels"] == [
        "projects/p/notificationChannels/123",
        "projects/x/notificationChannels/9",
    ]


def test_every_policy_reads_a_declared_metric_and_its_labels() -> None:
    settings = Settings(alert_failure_rate=0.3, alert_failure_window_min=10)
    for policy in alert_policies(settings, PROJECT):
        (condition,) = policy.body["conditions"]
        threshold = condition["conditionThreshold"]
        filters = [threshold["filter"], threshold.get("denominatorFilter")]
        groups = [g for a in threshold["aggregations"] for g in a["groupByFields"]]
        for text in filter(None, filters):
            check_metric_filter(text, groups)
    rate = alert_policies(settings, PROJECT)[2].body["conditions"][0]["conditionThreshold"]
    assert (rate["thresholdValue"], rate["aggregations"][0]["alignmentPeriod"]) == (0.3, "600s")


def check_metric_filter(text: str, groups: list[str]) -> None:
    """`metric.type` is a metric the plan declares (its labels too) or one Google reports."""
    (metric_type,) = re.findall(r'metric\.type="([^"]+)"', text)
    labels = re.findall(r"metric\.label\.(\w+)", text) + [
        g.removeprefix("metric.label.") for g in groups if g.startswith("metric.label.")
    ]
    if metric_type in BUILTIN_METRICS:
        assert not labels, (metric_type, labels)
        return
    assert metric_type.startswith(USER_METRIC_PREFIX), metric_type
    declared = metric(metric_type.removeprefix(USER_METRIC_PREFIX))
    assert set(labels) <= set(declared.labels), (metric_type, labels)


def _queries(node: Any) -> Iterator[dict[str, Any]]:
    """Every `{filter, aggregation}` pair in the dashboard, however nested."""
    if isinstance(node, dict):
        if "filter" in node:
            yield node
        for value in node.values():
            yield from _queries(value)
    elif isinstance(node, list):
        for value in node:
            yield from _queries(value)


def test_the_dashboard_charts_only_declared_or_builtin_metrics() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    tiles = dashboard["mosaicLayout"]["tiles"]
    assert dashboard["displayName"] == "aiexec" and len(tiles) >= 10
    queries = list(_queries(dashboard))
    for query in queries:
        groups = query.get("aggregation", {}).get("groupByFields", [])
        check_metric_filter(query["filter"], groups)
    charted = {re.findall(r'metric\.type="([^"]+)"', q["filter"])[0] for q in queries}
    # every metric the issue names is on it: tasks, fallbacks, latency, errors, circuits,
    # the queue backlog (Pub/Sub's own metric), budgets
    for wanted in (
        "aiexec_tasks_finished", "aiexec_provider_call_latency", "aiexec_provider_call_errors",
        "aiexec_circuit_state", "aiexec_budget_threshold", "aiexec_dead_lettered",
    ):  # fmt: skip
        assert USER_METRIC_PREFIX + wanted in charted, wanted
    assert "pubsub.googleapis.com/subscription/num_undelivered_messages" in charted
    # tiles do not overlap on the 48-column grid
    cells = [(x, y) for t in tiles for x in range(t["xPos"], t["xPos"] + t["width"])
             for y in range(t["yPos"], t["yPos"] + t["height"])]  # fmt: skip
    assert len(cells) == len(set(cells)) and max(x for x, _ in cells) < 48


def test_applying_twice_changes_nothing_and_a_new_threshold_updates_only_its_policy() -> None:
    fake = FakeGcloud()
    prod = production(alert_email="oncall@example.com")

    def outcomes(settings_prod: Any) -> dict[str, str]:
        applier = Applier(settings_prod, run=fake, echo=lambda _: None)
        done = applier.apply(monitoring_steps(settings_prod))
        calls = [(step.action, outcome) for step, outcome in done]
        return {_named(c.payload): outcome for c, outcome in calls if isinstance(c, Call)}

    first = outcomes(prod)
    assert all(isinstance(s.action, Call) for s in monitoring_steps(prod))
    assert set(first.values()) == {"created"}
    assert len(first) == len(LOG_METRICS) + 1 + 6 + 1  # metrics, the channel, policies, dashboard
    assert set(outcomes(prod).values()) == {"unchanged"}
    again = outcomes(production(alert_email="oncall@example.com", alert_failure_rate=0.5))
    changed = [text for text, outcome in again.items() if outcome != "unchanged"]
    assert changed == ["aiexec: task failure rate over threshold"]
    assert again[changed[0]] == "updated"
    (policy,) = [c for (kind, _), c in fake.monitoring.items() if kind == "policy"
                 and c["displayName"] == changed[0]]  # fmt: skip
    assert policy["conditions"][0]["conditionThreshold"]["thresholdValue"] == 0.5
    assert policy["notificationChannels"] == ["projects/p/notificationChannels/oncall@example.com"]


def _named(payload: Any) -> str:
    """A monitoring step's resource by its name (metric), display name or address."""
    for attribute in ("display_name", "name", "email"):
        if hasattr(payload, attribute):
            return str(getattr(payload, attribute))
    raise AssertionError(payload)
