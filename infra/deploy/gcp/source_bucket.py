"""The bucket `gcloud builds submit` uploads the build source to."""

from __future__ import annotations

from infra.deploy.bootstrap import SourceBucket
from infra.deploy.gcp.gcloud import Runner, describe_or_create
from infra.deploy.gcp.outcomes import CREATED, UNCHANGED


def bucket_create_args(bucket: SourceBucket) -> tuple[str, ...]:
    return (
        "storage",
        "buckets",
        "create",
        f"gs://{bucket.name}",
        f"--location={bucket.location}",
        "--uniform-bucket-level-access",
    )


def ensure_bucket(run: Runner, project: str, bucket: SourceBucket) -> str:
    """The build source bucket exists (gcloud would create it on the first submit; the build
    accounts' access to it is granted now, so the bootstrap creates it first)."""
    describe = ("storage", "buckets", "describe", f"gs://{bucket.name}", "--format=value(name)")
    described = describe_or_create(
        run,
        project,
        describe,
        bucket_create_args(bucket),
        f"gs://{bucket.name}",
        unreadable=f"bucket gs://{bucket.name} (owned by another project?)",
    )
    return CREATED if described is None else UNCHANGED
