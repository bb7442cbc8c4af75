"""Cloud Monitoring and Logging through `gcloud`: log-based metrics, the alerts' email channel,
alert policies and the dashboard, each created when missing and updated in place otherwise.

Alert policies and notification channels are only in gcloud's alpha track (SDK 528: `gcloud
monitoring policies` answers "available in alternate release tracks"); log-based metrics and
dashboards are GA. Every resource is found by a name we choose: the metric's, or the display
name of a policy, channel or dashboard (those get ids from the API).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import bundles
from infra.deploy.gcp.gcloud import GcloudError, Runner, checked, gcloud, last_line, not_found
from infra.deploy.gcp.outcomes import CREATED, UNCHANGED, UPDATED
from infra.deploy.monitoring import AlertPolicy, LogMetric, NotificationChannel

CONFIG_DIR = Path("build") / "monitoring"  # the files the commands read, under the repo root
ALPHA = ("alpha", "monitoring")


@dataclass(frozen=True)
class Dashboard:
    display_name: str
    file: Path  # relative to the repository root


def config_path(kind: str, name: str, root: Path = Path()) -> Path:
    """The file a command reads: relative in the dry run, under `root` when run (the deploy's
    gcloud calls do not run in the repository)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return root / CONFIG_DIR / f"{kind}-{slug}.json"


def _write(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the commands (also what the dry run prints) ---------------------------------------


def log_metric_args(
    metric: LogMetric, verb: str = "create", root: Path = Path()
) -> tuple[str, ...]:
    file = config_path("metric", metric.name, root)
    return ("logging", "metrics", verb, metric.name, f"--config-from-file={file}")


def channel_list_args(channel: NotificationChannel) -> tuple[str, ...]:
    wanted = f"type=email AND labels.email_address={_quoted(channel.email)}"
    return (*ALPHA, "channels", "list", f"--filter={wanted}", "--format=value(name)")


def channel_create_args(channel: NotificationChannel) -> tuple[str, ...]:
    return (
        *ALPHA,
        "channels",
        "create",
        f"--display-name={channel.display_name}",
        "--type=email",
        f"--channel-labels=email_address={channel.email}",
    )


def policy_list_args(display_name: str) -> tuple[str, ...]:
    wanted = f"displayName={_quoted(display_name)}"
    fields = "--format=value(name,userLabels)"  # the digest is one of the labels
    return (*ALPHA, "policies", "list", f"--filter={wanted}", fields)


def policy_args(
    policy: AlertPolicy, name: str | None = None, root: Path = Path()
) -> tuple[str, ...]:
    """`create`, or `update NAME` of an existing policy, from the policy's file."""
    flag = f"--policy-from-file={config_path('policy', policy.display_name, root)}"
    if name is None:
        return (*ALPHA, "policies", "create", flag)
    return (*ALPHA, "policies", "update", name, flag)


def dashboard_list_args(display_name: str) -> tuple[str, ...]:
    wanted = f"displayName={_quoted(display_name)}"
    fields = "--format=value(name,labels)"
    return ("monitoring", "dashboards", "list", f"--filter={wanted}", fields)


def dashboard_args(
    dashboard: Dashboard, name: str | None = None, root: Path | None = None
) -> tuple[str, ...]:
    """The dry run shows the repository's file; applying sends it with its digest label."""
    file = dashboard.file if root is None else root / CONFIG_DIR / "dashboard.json"
    flag = f"--config-from-file={file}"
    if name is None:
        return ("monitoring", "dashboards", "create", flag)
    return ("monitoring", "dashboards", "update", name, flag)


# --- applying them ------------------------------------------------------------------------


def _names(run: Runner, project: str, args: tuple[str, ...], what: str) -> list[str]:
    done = checked(run, project, args, f"list {what}")
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


# A digest of a resource's whole configuration, kept in a field the API returns as given (a
# metric's description, a policy's user label, a dashboard's label): a resource whose
# configuration changed is told apart without comparing the fields the API fills in itself.
def _tagged(config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return dict(config), f"aiexec-config-{digest}"


def ensure_log_metric(run: Runner, project: str, metric: LogMetric) -> str:
    """Create the metric, or bring its filter, labels and buckets back to the plan's."""
    config, tag = _tagged(metric.config())
    config["description"] = f"{config['description']} [{tag}]"
    root = bundles.REPO_ROOT
    _write(config_path("metric", metric.name, root), config)
    describe = ("logging", "metrics", "describe", metric.name, "--format=value(description)")
    described = gcloud(run, project, *describe)
    if described.returncode != 0 and not not_found(described.stderr):
        raise GcloudError(f"cannot read log metric {metric.name}: {last_line(described.stderr)}")
    exists = described.returncode == 0
    if exists and tag in described.stdout:
        return UNCHANGED
    verb = "update" if exists else "create"
    args = log_metric_args(metric, verb, root)
    checked(run, project, args, f"{verb} log metric {metric.name}")
    return UPDATED if exists else CREATED


def email_channel(run: Runner, project: str, channel: NotificationChannel) -> str | None:
    found = _names(run, project, channel_list_args(channel), "notification channels")
    return found[0].split()[0] if found else None


def ensure_channel(run: Runner, project: str, channel: NotificationChannel) -> str:
    if email_channel(run, project, channel) is not None:
        return UNCHANGED
    checked(run, project, channel_create_args(channel), f"create the channel {channel.email}")
    return CREATED


def ensure_policy(run: Runner, project: str, policy: AlertPolicy) -> str:
    """Create the policy, or update the one of that display name (several: the first)."""
    email = email_channel(run, project, policy.email) if policy.email else None
    if policy.email and email is None:
        raise GcloudError(f"no notification channel for {policy.email.email} (created above?)")
    config, tag = _tagged(policy.config(email))
    config["userLabels"] = config.get("userLabels", {}) | {"aiexec-config": tag}
    _write(config_path("policy", policy.display_name, bundles.REPO_ROOT), config)
    found = _names(run, project, policy_list_args(policy.display_name), "alert policies")
    name = found[0].split()[0] if found else None
    if found and tag in found[0]:
        return UNCHANGED
    args = policy_args(policy, name, bundles.REPO_ROOT)
    checked(run, project, args, f"apply policy {policy.display_name!r}")
    return UPDATED if name else CREATED


def ensure_dashboard(run: Runner, project: str, dashboard: Dashboard) -> str:
    """Create the dashboard, or replace the one of that display name when the file changed
    (its digest is a label of the dashboard)."""
    config, tag = _tagged(json.loads((bundles.REPO_ROOT / dashboard.file).read_text()))
    config["labels"] = config.get("labels", {}) | {tag: ""}
    _write(bundles.REPO_ROOT / CONFIG_DIR / "dashboard.json", config)
    found = _names(run, project, dashboard_list_args(dashboard.display_name), "dashboards")
    name = found[0].split()[0] if found else None
    if found and tag in found[0]:
        return UNCHANGED
    what = f"apply dashboard {dashboard.display_name!r}"
    checked(run, project, dashboard_args(dashboard, name, bundles.REPO_ROOT), what)
    return UPDATED if name else CREATED


# The deploy's operations (infra/deploy/apply.py): (runner, project, payload) -> outcome.
MONITORING_CALLS: dict[str, Callable[[Runner, str, Any], str]] = {
    "log-metric": ensure_log_metric,
    "alert-channel": ensure_channel,
    "alert-policy": ensure_policy,
    "dashboard": ensure_dashboard,
    "no-op": lambda run, project, payload: UNCHANGED,
}
