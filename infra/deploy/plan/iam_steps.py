"""Identities and grants as steps, shared by the bootstrap and the deployment: creating service
accounts, and one step per binding (a project grant, a bucket, a secret, an identity, a
function's invoker)."""

from __future__ import annotations

from infra.deploy.gcp.gcloud import GCLOUD, gcloud_argv
from infra.deploy.gcp.project_iam import condition_flag, project_binding_args
from infra.deploy.model import Binding, Production, ServiceAccount
from infra.deploy.plan.steps import Call, Command, Step


def service_account_steps(
    prod: Production,
    accounts: tuple[ServiceAccount, ...] | None = None,
    phase: str = "service accounts",
) -> list[Step]:
    project = prod.target.project
    return [
        Step(
            phase,
            f"{sa.email}: {sa.purpose}",
            Command(
                gcloud_argv(
                    "iam",
                    "service-accounts",
                    "create",
                    sa.account_id,
                    f"--display-name=aiexec: {sa.purpose}",
                    project=project,
                ),
                unless=gcloud_argv(
                    "iam", "service-accounts", "describe", sa.email, project=project
                ),
            ),
        )
        for sa in (prod.service_accounts if accounts is None else accounts)
    ]


def _binding_command(binding: Binding, prod: Production) -> Command:
    project, region = prod.target.project, prod.target.region
    grant = (f"--member={binding.member}", f"--role={binding.role}", "--format=none")
    argv: tuple[str, ...]
    if binding.kind == "project":
        argv = project_binding_args(project, binding)
    elif binding.kind == "bucket":
        conditional = (condition_flag(binding.condition),) if binding.condition else ()
        bucket = f"gs://{binding.resource}"
        argv = ("storage", "buckets", "add-iam-policy-binding", bucket, *grant, *conditional)
    elif binding.kind == "secret":
        argv = ("secrets", "add-iam-policy-binding", binding.resource, *grant)
    elif binding.kind == "service-account":
        argv = ("iam", "service-accounts", "add-iam-policy-binding", binding.resource, *grant)
    elif binding.kind == "function" and binding.role == "roles/run.invoker":
        argv = (
            "functions",
            "add-invoker-policy-binding",
            binding.resource,
            f"--region={region}",
            f"--member={binding.member}",
        )
    else:
        raise ValueError(f"no command grants {binding}")
    return Command(gcloud_argv(*argv, project=project))


def describe_binding(b: Binding) -> str:
    """One line per binding, and its condition (if any) on the next."""
    text = f"{b.kind} {b.resource}: {b.role} → {b.member}  ({b.why})"
    if b.condition is not None:
        text += f"\n  only if [{b.condition.title}]: {b.condition.expression}"
    return text


def _binding_step(prod: Production, phase: str, b: Binding) -> Step:
    """Project grants read the policy first (a Call): that is what lets the deployer's
    conditional Project IAM Admin replace an older unconditional grant of the same role."""
    if b.kind == "project":
        shown = (_binding_command(b, prod).argv,)
        return Step(phase, describe_binding(b), Call(GCLOUD, "project-binding", b, shown))
    return Step(phase, describe_binding(b), _binding_command(b, prod))


def binding_steps(
    prod: Production,
    phase: str,
    kinds: tuple[str, ...],
    *,
    bindings: tuple[Binding, ...] | None = None,
) -> list[Step]:
    """A step per binding of `kinds` (of the runtime's bindings unless `bindings` are given)."""
    return [
        _binding_step(prod, phase, b)
        for b in (prod.bindings if bindings is None else bindings)
        if b.kind in kinds
    ]
