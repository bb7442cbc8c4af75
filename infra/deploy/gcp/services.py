"""The project's APIs: which are enabled, and enabling those the pipeline needs (the bootstrap)."""

from __future__ import annotations

from infra.deploy.gcp.gcloud import GcloudError, Runner, checked, gcloud, last_line
from infra.deploy.gcp.outcomes import UNCHANGED


def enabled_services(run: Runner, project: str) -> set[str]:
    args = ("services", "list", "--enabled", "--format=value(config.name)")
    done = checked(run, project, args, "list the enabled APIs")
    return {line.strip() for line in done.stdout.splitlines() if line.strip()}


def ensure_services(run: Runner, project: str, services: tuple[str, ...]) -> str:
    """Enable the APIs of `services` that are not enabled yet."""
    missing = [name for name in services if name not in enabled_services(run, project)]
    if not missing:
        return UNCHANGED
    done = gcloud(run, project, "services", "enable", *missing)
    if done.returncode != 0:
        raise GcloudError(
            f"cannot enable {', '.join(missing)}: {last_line(done.stderr)} (a project owner "
            "runs `aiexec deploy --bootstrap-only` once)"
        )
    return f"enabled {', '.join(missing)}"
