"""The batch lane in the deploy plan (issue 16): its two functions on the `batch-requests`
trigger, the Cloud Scheduler job, the bucket with its lifecycle rule, and IAM limited to the
bucket's `batch/` prefix for the functions and for Vertex AI's service agent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aiexec.cli.main import main
from infra.deploy.gcp.batch_bucket import ensure_batch_bucket
from infra.deploy.gcp.outcomes import CREATED, UNCHANGED, UPDATED
from infra.deploy.model import BatchBucket
from infra.deploy.plan.bootstrap import bootstrap_steps
from tests.deploy.conftest import NUMBER, PROJECT, REGION, plan, production

pytestmark = pytest.mark.usefixtures("default_settings_env")

BUCKET = "acme-aiexec-batch"
AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-aiplatform.iam.gserviceaccount.com"
DRY_AGENT = "serviceAccount:service-PROJECT_NUMBER@gcp-sa-aiplatform.iam.gserviceaccount.com"
PREFIX_ONLY = (
    f'resource.name.startsWith("projects/_/buckets/{BUCKET}/objects/batch/") || '
    f'resource.name == "projects/_/buckets/{BUCKET}"'
)


def _account(name: str) -> str:
    return f"serviceAccount:aiexec-{name}@{PROJECT}.iam.gserviceaccount.com"


def test_the_batch_functions_run_on_their_trigger_with_the_scheduler_job() -> None:
    prod, _ = plan(batch_bucket=BUCKET, batch_schedule="*/3 * * * *")
    topology = prod.topology
    assert "batch-requests" in {t.name for t in topology.topics}
    for name in ("batcher", "poller"):
        sub = topology.subscription(f"batch-requests-{name}")
        assert sub.topic == "batch-requests" and sub.dead_letter_topic is None
        assert sub.push_endpoint == f"https://{REGION}-{PROJECT}.cloudfunctions.net/{name}"
        fn = prod.function(name)
        assert (fn.entry_point, fn.push_subscription) == (name, sub.name)
        assert sub.ack_deadline_s >= fn.timeout_s
        assert (fn.max_instances, fn.concurrency) == (1, 1)  # one run per trigger at a time
        assert dict(fn.env)["AIEXEC_BATCH_BUCKET"] == BUCKET
        assert [s.env for s in fn.secrets] == ["OPENAI_API_KEY"]  # OpenAI's batch API
    (job,) = [j for j in prod.jobs if j.name == "aiexec-batch"]
    assert (job.topic, job.schedule, job.time_zone) == ("batch-requests", "*/3 * * * *", "UTC")


def test_the_bucket_grants_are_limited_to_the_batch_prefix() -> None:
    prod = production(batch_bucket=BUCKET)
    grants = {(b.role, b.member) for b in prod.bindings_on("bucket", BUCKET)}
    assert grants == {
        ("roles/storage.objectUser", _account("batcher")),
        ("roles/storage.objectUser", _account("poller")),
        ("roles/storage.objectViewer", AGENT),  # Vertex AI reads a job's input
        ("roles/storage.objectCreator", AGENT),  # and writes its output
    }
    for binding in prod.bindings_on("bucket", BUCKET):
        assert binding.condition is not None and binding.condition.expression == PREFIX_ONLY
    # No other identity touches the bucket; the batch functions run Vertex AI jobs
    assert not [b for b in prod.bindings if b.kind == "bucket" and b.resource != BUCKET]
    vertex_users = {
        b.member for b in prod.bindings if b.role == "roles/aiplatform.user" and b.kind == "project"
    }
    assert vertex_users >= {_account("batcher"), _account("poller"), _account("worker-vertex")}
    assert prod.batch_bucket == BatchBucket(BUCKET, REGION, "batch/", 14)


def test_without_a_bucket_there_is_no_bucket_and_vertex_runs_online() -> None:
    prod = production()
    assert prod.batch_bucket is None
    assert not [b for b in prod.bindings if b.kind == "bucket" or b.member == AGENT]
    users = {b.member for b in prod.bindings if b.role == "roles/aiplatform.user"}
    assert _account("batcher") not in users and _account("poller") not in users
    texts = "\n".join(step.text for step in bootstrap_steps(prod))
    assert "batch lane" not in texts and "Vertex AI's service agent" not in texts


def test_the_dry_run_shows_bucket_lifecycle_iam_functions_and_schedule(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIEXEC_BATCH_BUCKET", BUCKET)
    monkeypatch.setenv("AIEXEC_BATCH_BUCKET_DELETE_AFTER_DAYS", "9")
    assert main(["deploy", "--project", PROJECT, "--region", REGION, "--dry-run"]) == 0
    out = capsys.readouterr().out
    rule = (
        '{"rule":[{"action":{"type":"Delete"},"condition":{"age":9,"matchesPrefix":["batch/"]}}]}'
    )
    for text in (
        f"gs://{BUCKET} in {REGION}: the batch lane's job files under batch/",
        "objects under batch/ deleted 9 days after creation "
        f"(AIEXEC_BATCH_BUCKET_DELETE_AFTER_DAYS), rule {rule}",
        f"$ gcloud storage buckets create gs://{BUCKET}",
        "--uniform-bucket-level-access --public-access-prevention",
        f"$ gcloud storage buckets update gs://{BUCKET}",
        "--service=aiplatform.googleapis.com",
        f"bucket {BUCKET}: roles/storage.objectCreator → {DRY_AGENT}  (Vertex AI writes batch",
        f"bucket {BUCKET}: roles/storage.objectViewer → {DRY_AGENT}  (Vertex AI reads batch input)",
        f"bucket {BUCKET}: roles/storage.objectUser → {_account('batcher')}",
        f"bucket {BUCKET}: roles/storage.objectUser → {_account('poller')}",
        f"only if [aiexec-batch-prefix-only]: {PREFIX_ONLY}",
        "topic batch-requests",
        "subscription batch-requests-batcher: batch-requests → push",
        "subscription batch-requests-poller: batch-requests → push",
        "$ gcloud functions deploy batcher",
        "$ gcloud functions deploy poller",
        "job aiexec-batch: cron '*/5 * * * *' (UTC) → topic batch-requests",
        "topic batch-requests: roles/pubsub.publisher → serviceAccount:service-",
    ):
        assert text in out, text


class _Gcloud:
    """gcloud for one bucket: `describe` answers its JSON (lifecycle_config as set), `create`
    makes it, `update --lifecycle-file` reads the rule from the file as gcloud would."""

    def __init__(self) -> None:
        self.bucket: dict[str, Any] | None = None
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        verb = argv[3]
        if verb == "describe" and self.bucket is None:
            return subprocess.CompletedProcess(argv, 1, "", "ERROR: 404 NOT_FOUND")
        if verb == "describe":
            return subprocess.CompletedProcess(argv, 0, json.dumps(self.bucket), "")
        if verb == "create":
            self.bucket = {"name": argv[4].removeprefix("gs://")}
        if verb == "update":
            path = next(a for a in argv if a.startswith("--lifecycle-file="))
            assert self.bucket is not None
            self.bucket["lifecycle_config"] = json.loads(Path(path.split("=", 1)[1]).read_text())
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_the_bucket_is_created_with_its_rule_and_a_drifted_rule_is_set_again() -> None:
    gcloud, bucket = _Gcloud(), BatchBucket(BUCKET, REGION, "batch/", 9)
    assert ensure_batch_bucket(gcloud, PROJECT, bucket) == CREATED
    assert gcloud.bucket == {"name": BUCKET, "lifecycle_config": bucket.lifecycle()}
    create = next(c for c in gcloud.calls if c[3] == "create")
    assert f"--location={REGION}" in create and "--uniform-bucket-level-access" in create
    assert ensure_batch_bucket(gcloud, PROJECT, bucket) == UNCHANGED
    gcloud.bucket["lifecycle_config"] = {"rule": []}  # changed by hand
    assert ensure_batch_bucket(gcloud, PROJECT, bucket) == UPDATED
    assert gcloud.bucket["lifecycle_config"]["rule"][0]["condition"]["age"] == 9
