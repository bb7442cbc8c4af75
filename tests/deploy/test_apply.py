"""Applying the plan, with fake clouds: each step reads first and writes only what differs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore_admin_v1 as admin
from google.cloud import scheduler_v1
from google.iam.v1 import policy_pb2  # type: ignore[import-untyped]

from infra import bundles
from infra.deploy.apply import Applier, DeployError
from infra.deploy.gcp.firestore import apply_field, apply_index
from infra.deploy.gcp.outcomes import CREATED, UNCHANGED, UPDATED
from infra.deploy.gcp.pubsub_iam import grant_pubsub_role
from infra.deploy.gcp.scheduler import apply_job
from infra.deploy.model import FirestoreIndex, SchedulerJob
from infra.deploy.plan.bootstrap import bootstrap_steps
from infra.deploy.plan.deployment import build_plan
from infra.deploy.plan.steps import Call, Command, Step
from tests.deploy.conftest import FakeGcloud, plan

pytestmark = pytest.mark.usefixtures("default_settings_env")


class FakeIam:
    """get/set_iam_policy of a Pub/Sub admin client, on real `Policy` messages."""

    def __init__(self) -> None:
        self.policies: dict[str, policy_pb2.Policy] = {}
        self.writes = 0

    def get_iam_policy(self, request: dict[str, Any]) -> policy_pb2.Policy:
        policy = policy_pb2.Policy()
        policy.CopyFrom(self.policies.get(request["resource"], policy_pb2.Policy()))
        return policy

    def set_iam_policy(self, request: dict[str, Any]) -> None:
        self.policies[request["resource"]] = request["policy"]
        self.writes += 1


def test_pubsub_role_is_added_once_and_other_members_are_kept() -> None:
    client, topic = FakeIam(), "projects/p/topics/tasks-dead"
    client.policies[topic] = policy_pb2.Policy(
        bindings=[policy_pb2.Binding(role="roles/pubsub.publisher", members=["user:ops@x.com"])]
    )
    agent = ("serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com",)
    assert grant_pubsub_role(client, topic, "roles/pubsub.publisher", agent) == UPDATED
    assert grant_pubsub_role(client, topic, "roles/pubsub.publisher", agent) == UNCHANGED
    assert client.writes == 1
    (binding,) = client.policies[topic].bindings
    assert list(binding.members) == ["user:ops@x.com", *agent]


class FakeScheduler:
    def __init__(self) -> None:
        self.jobs: dict[str, Any] = {}
        self.calls: list[str] = []

    def get_job(self, name: str) -> Any:
        if name not in self.jobs:
            raise gexc.NotFound(name)  # type: ignore[no-untyped-call]
        return self.jobs[name]

    def create_job(self, parent: str, job: Any) -> None:
        self.calls.append("create")
        self.jobs[job.name] = scheduler_v1.Job(job)

    def update_job(self, job: Any, update_mask: dict[str, list[str]]) -> None:
        self.calls.append("update")
        self.jobs[job.name] = scheduler_v1.Job(job)


def test_scheduler_job_is_created_then_unchanged_then_updated() -> None:
    client = FakeScheduler()
    job = SchedulerJob("aiexec-weekly-report", "0 8 * * 1", "UTC", "usage-report-requests",
                       "{}", "weekly")  # fmt: skip
    assert apply_job(client, "p", "europe-west1", job) == CREATED
    assert apply_job(client, "p", "europe-west1", job) == UNCHANGED
    moved = SchedulerJob(job.name, job.schedule, "Europe/Berlin", job.topic, "{}", "weekly")
    assert apply_job(client, "p", "europe-west1", moved) == UPDATED
    stored = client.jobs["projects/p/locations/europe-west1/jobs/aiexec-weekly-report"]
    assert (stored.time_zone, stored.pubsub_target.topic_name) == (
        "Europe/Berlin",
        "projects/p/topics/usage-report-requests",
    )
    assert client.calls == ["create", "update"]


class FakeFirestoreAdmin:
    def __init__(self) -> None:
        self.indexes: list[Any] = []
        self.fields: dict[str, Any] = {}

    def list_indexes(self, parent: str) -> list[Any]:
        return list(self.indexes)

    def create_index(self, parent: str, index: Any) -> None:
        # Firestore appends the document name to every composite index it builds.
        fields = [*index.fields, admin.Index.IndexField(field_path="__name__", order=1)]
        self.indexes.append(admin.Index(query_scope=index.query_scope, fields=fields))

    def get_field(self, name: str) -> Any:
        inherited = admin.Field.IndexConfig(uses_ancestor_config=True)
        return self.fields.get(name, admin.Field(name=name, index_config=inherited))

    def update_field(self, field: Any, update_mask: dict[str, list[str]]) -> None:
        current = self.get_field(field.name)
        if "index_config" in update_mask["paths"]:
            current.index_config = admin.Field.IndexConfig(uses_ancestor_config=False)
        if "ttl_config" in update_mask["paths"]:
            current.ttl_config = admin.Field.TtlConfig(state=admin.Field.TtlConfig.State.CREATING)
        self.fields[field.name] = current


def test_firestore_indexes_and_field_overrides_are_idempotent() -> None:
    client = FakeFirestoreAdmin()
    index = FirestoreIndex("tasks", (("status", "ASCENDING"), ("deadline_at", "ASCENDING")))
    assert apply_index(client, "p", index) == CREATED
    assert apply_index(client, "p", index) == UNCHANGED
    other = FirestoreIndex("tasks", (("status", "ASCENDING"), ("lease_until", "ASCENDING")))
    assert apply_index(client, "p", other) == CREATED
    from infra.deploy.model import FieldOverride

    for override in (
        FieldOverride("tasks", "attempts", indexed=False),
        FieldOverride("usage", "expire_at", ttl=True),
    ):
        assert apply_field(client, "p", override) == UPDATED
        assert apply_field(client, "p", override) == UNCHANGED


@pytest.fixture
def applier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Applier:
    prod = plan()[0].with_secret_versions(
        {"aiexec-openai-api-key": "3", "aiexec-callback-secret": "1"}
    )
    topologies: list[Any] = []

    class Report:
        def summary(self) -> str:
            return "unchanged: 14"

    def fake_apply_topology(topology: Any, project: str) -> Report:
        topologies.append(topology)
        return Report()

    def fake_build_bundle(bundle: Any, *args: Any) -> Path:
        return tmp_path

    monkeypatch.setattr("infra.deploy.apply.apply_topology", fake_apply_topology)
    monkeypatch.setattr(bundles, "build_bundle", fake_build_bundle)
    runner = Applier(prod, repo_root=tmp_path, run=FakeGcloud(), echo=lambda _: None)
    runner.__dict__.update(  # the cached client properties
        publisher=FakeIam(),
        subscriber=FakeIam(),
        scheduler=FakeScheduler(),
        firestore_admin=FakeFirestoreAdmin(),
        _lock_and_export=({}, ""),
    )
    return runner


def test_the_whole_plan_runs_in_order(applier: Applier) -> None:
    steps = build_plan(applier.prod)
    results = applier.apply(steps)
    assert [step for step, _ in results] == steps
    fake = applier.run
    assert isinstance(fake, FakeGcloud)
    ran = [" ".join(a[1:3]) for a in fake.argvs]
    first_deploy = ran.index("functions deploy")
    # project grants read the policy first, and come before any function
    assert ran.index("projects get-iam-policy") < ran.index("projects add-iam-policy-binding")
    assert ran.index("projects add-iam-policy-binding") < first_deploy
    assert max(i for i, r in enumerate(ran) if r == "functions deploy") < ran.index(
        "functions add-invoker-policy-binding"
    )
    # identities and secret access are the owner's bootstrap: a deploy touches neither
    assert "iam service-accounts" not in ran and "secrets add-iam-policy-binding" not in ran
    # every runtime identity's Firestore access is limited to the (default) database
    datastore = {(who, expr) for role, who, expr in fake.project_policy
                 if role == "roles/datastore.user"}  # fmt: skip
    assert {who for who, _ in datastore} == {
        f"serviceAccount:{fn.service_account}" for fn in applier.prod.functions
    }
    assert {expr for _, expr in datastore} == {
        f'resource.name == "projects/{applier.prod.target.project}/databases/(default)"'
    }
    # nobody was public, so nothing was revoked
    assert "functions remove-invoker-policy-binding" not in ran
    outcomes = dict((s.text.splitlines()[0], o) for s, o in results)
    assert (
        outcomes["job aiexec-sweep: cron '*/5 * * * *' (UTC) → topic sweep-requests, data {}"]
        == "created"
    )
    # a second run grants nothing again
    fake.argvs.clear()
    applier.results.clear()
    applier.apply(steps)
    assert not any(a[1:3] == ["projects", "add-iam-policy-binding"] for a in fake.argvs)
    assert all(
        o in ("unchanged", "done") or o.startswith(("built", "unchanged"))
        for _, o in applier.results
    )


def test_a_failing_step_stops_the_deploy_with_a_hint(applier: Applier) -> None:
    fake = FakeGcloud(fail="secrets add-iam-policy-binding")
    fake.add_secret("aiexec-openai-api-key")
    applier.run = fake
    with pytest.raises(DeployError, match="create the secret first"):
        applier.apply([*bootstrap_steps(applier.prod), *build_plan(applier.prod)])
    assert not any("functions" in a for a in fake.argvs)


def test_an_older_unconditional_firestore_grant_is_replaced_by_the_database_only_one(
    applier: Applier,
) -> None:
    """Deployed before the condition existed: the runtime identity held datastore.user on the
    whole project. The deploy grants the conditional one and revokes the old one, else the
    condition would narrow nothing."""
    fake = applier.run
    assert isinstance(fake, FakeGcloud)
    who = f"serviceAccount:{applier.prod.function('report').service_account}"
    fake.project_policy.append(("roles/datastore.user", who, None))
    results = applier.apply(build_plan(applier.prod))
    held = [expr for role, m, expr in fake.project_policy
            if (role, m) == ("roles/datastore.user", who)]  # fmt: skip
    assert held == [
        f'resource.name == "projects/{applier.prod.target.project}/databases/(default)"'
    ]
    assert "granted; unconditional grant revoked" in [o for _, o in results]


def test_only_if_runs_the_command_only_when_the_check_finds_the_text(applier: Applier) -> None:
    check = ("gcloud", "run", "services", "get-iam-policy", "ingest")
    revoke = ("gcloud", "functions", "remove-invoker-policy-binding", "ingest")
    step = Step("invokers", "ingest not public", Command(revoke, only_if=(check, "allUsers")))
    assert applier.apply([step])[-1][1] == "unchanged"
    bad = Step("x", "unknown", Call("local", "nothing", None))
    with pytest.raises(DeployError, match="unknown operation"):
        applier.apply([bad])
