"""The deployment as an ordered plan of steps (`steps`): library calls and `gcloud` commands.

Two parts. The bootstrap (`bootstrap.bootstrap_steps`, applied by a project owner with `aiexec
deploy --bootstrap-only`): APIs, the Firestore database, the secrets, the custom role, the build
identities with their (conditional) roles, the runtime identities, who may act as them and
which may read which secret. The deployment (`deployment.build_plan`, what the deployer's build
applies): identities' project roles, Firestore before the code that queries it, the topology
before its IAM, the functions before their invokers, and the Cloud Scheduler jobs (the first
producers of traffic) last. `render.render()` is the `--dry-run` output: every resource, role,
condition and command, computed without credentials or network.
"""

from __future__ import annotations

from infra.deploy.model import Production
from infra.deploy.plan.bootstrap import bootstrap_steps
from infra.deploy.plan.deployment import build_plan
from infra.deploy.plan.steps import Step


def full_plan(prod: Production) -> list[Step]:
    """The bootstrap, then the deployment: what `--dry-run` prints."""
    return [*bootstrap_steps(prod), *build_plan(prod)]
