"""Secret Manager: the version `latest` points at, why a required secret cannot be mounted,
the generated pepper (created once, never replaced), the versions a deploy pins, and who may
read a secret."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from infra.deploy.bootstrap import WEBHOOK_FORMAT, GeneratedSecret, RequiredSecret
from infra.deploy.gcp.gcloud import (
    GcloudError,
    Runner,
    api_disabled,
    checked,
    gcloud,
    last_line,
    not_found,
)
from infra.deploy.gcp.outcomes import CREATED, UNCHANGED
from shared.callbacks.signing import SECRET_PREFIX

ENABLED = "ENABLED"


@dataclass(frozen=True)
class SecretLookup:
    """The `latest` version of a secret: its number when enabled, else what is wrong."""

    name: str
    version: str | None = None
    problem: str = ""  # "" | "missing" | "disabled" | "api-disabled" | "error"
    detail: str = ""


def latest_secret_version(run: Runner, project: str, name: str) -> SecretLookup:
    done = gcloud(
        run,
        project,
        "secrets",
        "versions",
        "describe",
        "latest",
        f"--secret={name}",
        "--format=value(name,state)",
    )
    if done.returncode != 0:
        if api_disabled(done.stderr):
            return SecretLookup(name, problem="api-disabled", detail=last_line(done.stderr))
        if not_found(done.stderr):
            return SecretLookup(name, problem="missing")
        return SecretLookup(name, problem="error", detail=last_line(done.stderr))
    path, _, state = done.stdout.strip().partition("\t")
    number = path.strip().rsplit("/", 1)[-1]
    if state.strip() != ENABLED:
        return SecretLookup(name, problem="disabled", detail=f"version {number} is {state.strip()}")
    return SecretLookup(name, version=number)


def secret_refusal(lookup: SecretLookup, secret: RequiredSecret, project: str) -> str:
    """Why a required secret cannot be mounted, with the command that fixes it."""
    users = ", ".join(secret.functions)
    what = f"secret {secret.name} ({secret.env} of {users})"
    create = secret.create_command(project)
    if lookup.problem == "missing":
        return f"{what} does not exist (or has no version); create it: {create}"
    if lookup.problem == "api-disabled":
        return (
            f"cannot check {what}: the Secret Manager API is not enabled; enable it "
            f"(gcloud services enable secretmanager.googleapis.com --project={project}), then "
            f"create the secret: {create}"
        )
    if lookup.problem == "disabled":
        return (
            f"{what}: its latest {lookup.detail}; enable it or add a version: "
            f'printf %s "${secret.env}" | gcloud secrets versions add {secret.name} '
            f"--data-file=- --project={project}"
        )
    return f"cannot check {what}: {lookup.detail}"


def check_required_secret(run: Runner, project: str, secret: RequiredSecret) -> str:
    lookup = latest_secret_version(run, project, secret.name)
    if lookup.version is None:
        raise GcloudError(secret_refusal(lookup, secret, project))
    return f"present (version {lookup.version})"


def secret_create_args(name: str) -> tuple[str, ...]:
    """`gcloud secrets create`, its first version read from stdin (never a command line)."""
    return ("secrets", "create", name, "--replication-policy=automatic", "--data-file=-")


def webhook_secret(random_bytes: int) -> str:
    """A Standard Webhooks signing secret: `whsec_` + the standard base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(random_bytes)).decode()


def ensure_generated_secret(
    run: Runner,
    project: str,
    secret: GeneratedSecret,
    token: Callable[[int], str] = secrets.token_urlsafe,
) -> str:
    """Create the secret with `random_bytes` random bytes (URL-safe base64 text, or a `whsec_`
    signing secret) when it has no version; never replace one that exists: every stored API-key
    hash depends on the pepper, every client's verification on the signing secret."""
    lookup = latest_secret_version(run, project, secret.name)
    if lookup.version is not None:
        return f"{UNCHANGED} (version {lookup.version}; never regenerated)"
    if lookup.problem == "disabled":
        raise GcloudError(
            f"secret {secret.name}: its latest {lookup.detail}; it is not replaced by a new "
            "random value (what was made with it depends on it): enable that version"
        )
    if lookup.problem != "missing":
        raise GcloudError(f"cannot check secret {secret.name}: {lookup.detail}")
    exists = gcloud(run, project, "secrets", "describe", secret.name, "--format=value(name)")
    value = (
        webhook_secret(secret.random_bytes)
        if secret.format == WEBHOOK_FORMAT
        else token(secret.random_bytes)
    )
    if exists.returncode == 0:  # a secret without a version: add its first one
        args: tuple[str, ...] = ("secrets", "versions", "add", secret.name, "--data-file=-")
    else:
        args = secret_create_args(secret.name)
    checked(run, project, args, f"create secret {secret.name}", stdin=value)
    return f"{CREATED} ({secret.random_bytes} random bytes)"


def resolve_secret_versions(run: Runner, project: str, names: tuple[str, ...]) -> dict[str, str]:
    """The version number `latest` points at now, for each secret (pinned into the deploy)."""
    versions, problems = {}, []
    for name in names:
        lookup = latest_secret_version(run, project, name)
        if lookup.version is None:
            problems.append(f"{name}: {lookup.problem} {lookup.detail}".strip())
        else:
            versions[name] = lookup.version
    if problems:
        raise GcloudError("cannot pin secret versions: " + "; ".join(problems))
    return versions


def secret_members(run: Runner, project: str, name: str, role: str) -> set[str] | None:
    """Who holds `role` on the secret (None: the policy cannot be read)."""
    done = gcloud(run, project, "secrets", "get-iam-policy", name, "--format=json")
    if done.returncode != 0:
        return None
    policy = json.loads(done.stdout or "{}")
    return {m for b in policy.get("bindings", []) if b.get("role") == role for m in b["members"]}
