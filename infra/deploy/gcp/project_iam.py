"""Project IAM through `gcloud`: grants that read the policy before they change it (and the
conditions they carry), revocations, the project's custom role, and whether the deployer can
see a runtime identity."""

from __future__ import annotations

import json
from typing import Any

from infra.deploy.gcp.gcloud import (
    Runner,
    checked,
    describe_or_create,
    escaped_flag,
    gcloud,
)
from infra.deploy.gcp.outcomes import CREATED, UNCHANGED, UPDATED
from infra.deploy.model import Binding, Condition, CustomRole

_CONDITION_DELIMITERS = (";", "#", "~", "@", "!")  # no `|`: CEL expressions often hold `||`


def condition_flag(condition: Condition | None) -> str:
    """gcloud's `--condition`: `None` for an unconditional grant; else the expression, title
    and description, always `^D^`-escaped: an expression often holds commas
    (`gcloud projects add-iam-policy-binding --help`, `gcloud topic escaping`)."""
    if condition is None:
        return "--condition=None"
    pairs = [("expression", condition.expression), ("title", condition.title)]
    if condition.description:
        pairs.append(("description", condition.description))
    return escaped_flag("--condition", [f"{k}={v}" for k, v in pairs], _CONDITION_DELIMITERS)


def project_binding_args(project: str, binding: Binding, verb: str = "add") -> tuple[str, ...]:
    """`gcloud projects add-iam-policy-binding …` (or `remove-`) for a project binding."""
    return (
        "projects",
        f"{verb}-iam-policy-binding",
        project,
        f"--member={binding.member}",
        f"--role={binding.role}",
        condition_flag(binding.condition),
        "--format=none",
    )


def project_revoke_args(project: str, binding: Binding) -> tuple[str, ...]:
    """Every grant of the binding's role to its member, whatever the condition."""
    return ("projects", "remove-iam-policy-binding", project, f"--member={binding.member}",
            f"--role={binding.role}", "--all", "--format=none")  # fmt: skip


def project_policy(run: Runner, project: str) -> dict[str, Any]:
    args = ("projects", "get-iam-policy", project, "--format=json")
    done = checked(run, project, args, f"read the IAM policy of {project}")
    policy: dict[str, Any] = json.loads(done.stdout or "{}")
    return policy


def _condition_of(entry: dict[str, Any]) -> Condition | None:
    raw = entry.get("condition")
    if not raw:
        return None
    return Condition(raw.get("title", ""), raw.get("expression", ""), raw.get("description", ""))


def _same(found: Condition | None, wanted: Condition | None) -> bool:
    if found is None or wanted is None:
        return found is wanted
    return (found.expression, found.title) == (wanted.expression, wanted.title)


def ensure_project_binding(run: Runner, project: str, binding: Binding) -> str:
    """Grant `binding` unless the policy already holds it (same condition); a conditional grant
    replaces the same role for the same member held without a condition or under an older
    expression of the same title: next to an unconditional grant, a condition narrows nothing."""
    entries = [
        e
        for e in project_policy(run, project).get("bindings", [])
        if e.get("role") == binding.role and binding.member in e.get("members", [])
    ]
    wanted = binding.condition
    present = any(_same(_condition_of(e), wanted) for e in entries)
    stale = [
        found
        for found in (_condition_of(e) for e in entries)
        if wanted is not None
        and not _same(found, wanted)
        and (found is None or found.title == wanted.title)
    ]
    outcome = []
    if not present:
        checked(run, project, project_binding_args(project, binding), f"grant {binding.role}")
        outcome.append("granted")
    for found in stale:
        old = Binding(binding.kind, binding.resource, binding.role, binding.member, "", found)
        args = project_binding_args(project, old, "remove")
        checked(run, project, args, f"revoke the older grant of {binding.role}")
        outcome.append("unconditional grant revoked" if found is None else "old condition revoked")
    return "; ".join(outcome) or UNCHANGED


def revoke_project_role(run: Runner, project: str, binding: Binding) -> str:
    """Remove every grant of `binding.role` to `binding.member`, whatever its condition."""
    held = any(
        e.get("role") == binding.role and binding.member in e.get("members", [])
        for e in project_policy(run, project).get("bindings", [])
    )
    if not held:
        return UNCHANGED
    checked(run, project, project_revoke_args(project, binding), f"revoke {binding.role}")
    return "revoked"


def custom_role_args(role: CustomRole, verb: str = "create") -> tuple[str, ...]:
    return (
        "iam",
        "roles",
        verb,
        role.role_id,
        f"--title={role.title}",
        f"--description={role.description}",
        f"--permissions={','.join(role.permissions)}",
        "--stage=GA",
        "--format=none",
    )


def ensure_custom_role(run: Runner, project: str, role: CustomRole) -> str:
    """Create the project's custom role, or bring a drifted (or deleted) one back to exactly
    `role.permissions`."""
    describe = ("iam", "roles", "describe", role.role_id, "--format=json")
    described = describe_or_create(
        run, project, describe, custom_role_args(role), f"role {role.role_id}"
    )
    if described is None:
        return CREATED
    found = json.loads(described or "{}")
    outcome = UNCHANGED
    if found.get("deleted"):
        checked(run, project, ("iam", "roles", "undelete", role.role_id, "--format=none"),
                f"undelete role {role.role_id}")  # fmt: skip
        outcome = UPDATED
    if sorted(found.get("includedPermissions", [])) != sorted(role.permissions):
        checked(run, project, custom_role_args(role, "update"), f"update role {role.role_id}")
        outcome = UPDATED
    return outcome


def service_account_exists(run: Runner, project: str, email: str) -> bool:
    """True when `email` can be read: for the deployer, exactly the identities it may act as
    (Service Account User, granted per identity, includes `iam.serviceAccounts.get`)."""
    done = gcloud(run, project, "iam", "service-accounts", "describe", email,
                  "--format=value(email)")  # fmt: skip
    return done.returncode == 0
