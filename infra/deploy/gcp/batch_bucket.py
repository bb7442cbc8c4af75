"""The batch lane's bucket (through gcloud): created when missing, its lifecycle rule set."""

from __future__ import annotations

import json
import tempfile

from infra.deploy.bootstrap import SourceBucket
from infra.deploy.gcp.gcloud import Runner, checked, describe_or_create
from infra.deploy.gcp.outcomes import CREATED, UNCHANGED, UPDATED
from infra.deploy.gcp.source_bucket import bucket_create_args
from infra.deploy.model import BatchBucket


def batch_bucket_create_args(bucket: BatchBucket) -> tuple[str, ...]:
    """As the source bucket's (uniform bucket-level access: IAM only, what the prefix conditions
    need), in the deployment's region (where the batch jobs run), and no public access."""
    same = bucket_create_args(SourceBucket(bucket.name, bucket.location))
    return (*same, "--public-access-prevention")


def lifecycle_args(bucket: BatchBucket, path: str) -> tuple[str, ...]:
    return ("storage", "buckets", "update", f"gs://{bucket.name}", f"--lifecycle-file={path}")


def _lifecycle_of(described: str) -> object:
    try:
        return json.loads(described).get("lifecycle_config")
    except (ValueError, AttributeError):  # not the JSON asked for: set the rule again
        return None


def ensure_batch_bucket(run: Runner, project: str, bucket: BatchBucket) -> str:
    """The bucket exists with exactly the lifecycle rule of `bucket` (set again when it
    differs: a rule changed by hand converges back)."""
    describe = ("storage", "buckets", "describe", f"gs://{bucket.name}", "--format=json")
    described = describe_or_create(
        run, project, describe, batch_bucket_create_args(bucket), f"gs://{bucket.name}"
    )
    if described is not None and _lifecycle_of(described) == bucket.lifecycle():
        return UNCHANGED
    with tempfile.NamedTemporaryFile("w", suffix=".json") as rule:
        json.dump(bucket.lifecycle(), rule)
        rule.flush()
        checked(run, project, lifecycle_args(bucket, rule.name), f"set gs://{bucket.name}'s rule")
    return CREATED if described is None else UPDATED
