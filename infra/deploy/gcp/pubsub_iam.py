"""Who may publish to a topic or pull from a subscription (through the Pub/Sub admin clients)."""

from __future__ import annotations

from typing import Any

from infra.deploy.gcp.outcomes import UNCHANGED, UPDATED


def grant_pubsub_role(client: Any, resource_path: str, role: str, members: tuple[str, ...]) -> str:
    """Add `members` to `role` on a topic or subscription (publisher/subscriber admin client).

    Read-modify-write with the policy's etag: a concurrent change makes the write fail
    instead of silently dropping the other writer's bindings.
    """
    policy = client.get_iam_policy(request={"resource": resource_path})
    binding = next(
        (b for b in policy.bindings if b.role == role and not b.condition.expression), None
    )
    if binding is None:
        binding = policy.bindings.add(role=role)
    missing = [m for m in members if m not in binding.members]
    if not missing:
        return UNCHANGED
    binding.members.extend(missing)
    client.set_iam_policy(request={"resource": resource_path, "policy": policy})
    return UPDATED
