"""Run a deployment plan against a real project: each step in order, stopping at the first
failure (a later step may depend on it), and report what each step changed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from infra import bundles
from infra.deploy.gcp.batch_bucket import ensure_batch_bucket
from infra.deploy.gcp.firestore import apply_field, apply_index, ensure_database
from infra.deploy.gcp.gcloud import Runner
from infra.deploy.gcp.monitoring import MONITORING_CALLS
from infra.deploy.gcp.outcomes import UNCHANGED
from infra.deploy.gcp.project_iam import (
    ensure_custom_role,
    ensure_project_binding,
    revoke_project_role,
)
from infra.deploy.gcp.pubsub_iam import grant_pubsub_role
from infra.deploy.gcp.scheduler import apply_job
from infra.deploy.gcp.secret_manager import check_required_secret, ensure_generated_secret
from infra.deploy.gcp.services import ensure_services
from infra.deploy.gcp.source_bucket import ensure_bucket
from infra.deploy.model import UNRESOLVED, Production
from infra.deploy.plan.steps import Call, Command, Step
from infra.pubsub_apply import apply_topology
from shared.errors import AIExecError

Echo = Callable[[str], None]


class DeployError(AIExecError, RuntimeError):
    """A step failed; the message says which and why."""


def _hint(stderr: str) -> str:
    if "secret" in stderr.lower() and "not found" in stderr.lower():
        return (
            "\nhint: create the secret first (README, Deploy: once per project), e.g. "
            'printf %s "$OPENAI_API_KEY" | gcloud secrets create aiexec-openai-api-key '
            "--data-file=-"
        )
    return ""


def project_number(project: str, run: Runner = subprocess.run) -> str:
    """The project number (service agents are named after it), via gcloud."""
    argv = ["gcloud", "projects", "describe", project, "--format=value(projectNumber)"]
    result = run(argv, capture_output=True, text=True, check=False)
    number = result.stdout.strip()
    if result.returncode != 0 or not number.isdigit():
        raise DeployError(f"cannot read the number of project {project}: {result.stderr.strip()}")
    return number


@dataclass
class Applier:
    """Executes steps; `run` and the client factories are replaceable for tests."""

    prod: Production
    repo_root: Path = bundles.REPO_ROOT
    run: Runner = subprocess.run
    echo: Echo = print
    results: list[tuple[Step, str]] = field(default_factory=list)

    def apply(self, steps: list[Step]) -> list[tuple[Step, str]]:
        for number, step in enumerate(steps, 1):
            first_line = step.text.splitlines()[0]
            try:
                outcome = self._one(step)
            except DeployError:
                raise
            except Exception as exc:  # any client error: say which step it stopped
                raise DeployError(
                    f"step {number} ({step.phase}: {first_line}) failed: {exc}"
                ) from exc
            self.results.append((step, outcome))
            self.echo(f"[{number}/{len(steps)}] {step.phase}: {first_line} ... {outcome}")
        return self.results

    def _one(self, step: Step) -> str:
        if isinstance(step.action, Command):
            return self._command(step.action)
        return self._call(step.action)

    def _command(self, command: Command) -> str:
        if any(UNRESOLVED in arg for arg in command.argv):
            raise DeployError(
                f"{' '.join(command.argv[:4])}: a secret version is not resolved yet "
                "(pin them first: Production.with_secret_versions)"
            )
        if command.unless is not None:
            check = self.run(list(command.unless), capture_output=True, text=True, check=False)
            if check.returncode == 0:
                return UNCHANGED
        if command.only_if is not None:
            argv, text = command.only_if
            check = self.run(list(argv), capture_output=True, text=True, check=False)
            if check.returncode != 0 or text not in check.stdout:
                return UNCHANGED
        result = self.run(
            list(command.argv), capture_output=True, text=True, check=False, cwd=self.repo_root
        )
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise DeployError(f"{' '.join(command.argv[:4])} failed:\n{tail}{_hint(tail)}")
        return "done"

    # --- library calls ----------------------------------------------------------------

    @cached_property
    def _lock_and_export(self) -> tuple[dict[str, Any], str]:
        return bundles.load_lock(self.repo_root), bundles.uv_export(self.repo_root)

    @cached_property
    def publisher(self) -> Any:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

        return pubsub_v1.PublisherClient()

    @cached_property
    def subscriber(self) -> Any:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

        return pubsub_v1.SubscriberClient()

    @cached_property
    def scheduler(self) -> Any:
        from google.cloud import scheduler_v1

        return scheduler_v1.CloudSchedulerClient()

    @cached_property
    def firestore_admin(self) -> Any:
        from google.cloud import firestore_admin_v1

        return firestore_admin_v1.FirestoreAdminClient()

    def _call(self, call: Call) -> str:
        if call.operation in _BOOTSTRAP_CALLS:
            handler = _BOOTSTRAP_CALLS[call.operation]
            return handler(self.run, self.prod.target.project, call.payload)
        return self._library_call(call)

    def _library_call(self, call: Call) -> str:
        project, region = self.prod.target.project, self.prod.target.region
        payload = call.payload
        if call.operation == "topology":
            return apply_topology(payload, project).summary()
        if call.operation == "iam":
            kind, resource, role, members = payload
            client = self.publisher if kind == "topic" else self.subscriber
            path = f"projects/{project}/{'topics' if kind == 'topic' else 'subscriptions'}/"
            return grant_pubsub_role(client, path + resource, role, members)
        if call.operation == "job":
            return apply_job(self.scheduler, project, region, payload)
        if call.operation == "index":
            return apply_index(self.firestore_admin, project, payload)
        if call.operation == "field":
            return apply_field(self.firestore_admin, project, payload)
        if call.operation == "bundle":
            lock, export = self._lock_and_export
            out = self.repo_root / bundles.BUILD_DIR
            built = bundles.build_bundle(payload, out, lock, export, self.repo_root)
            return f"built {built.relative_to(self.repo_root)}"
        raise DeployError(f"unknown operation {call.operation!r}")


# The gcloud-backed operations (the bootstrap's, and project grants that read the policy
# first): (runner, project, payload) -> outcome.
_BOOTSTRAP_CALLS: dict[str, Callable[[Runner, str, Any], str]] = {
    "apis": ensure_services,
    "database": ensure_database,
    "secret-required": check_required_secret,
    "secret-generated": ensure_generated_secret,
    "no-secrets": lambda run, project, payload: UNCHANGED,
    "custom-role": ensure_custom_role,
    "bucket": ensure_bucket,
    "batch-bucket": ensure_batch_bucket,
    "project-binding": ensure_project_binding,
    "project-revoke": revoke_project_role,
    **MONITORING_CALLS,
}
