"""Cloud Monitoring as steps: the log-based metrics (before the functions, since a log-based
metric counts only lines written after it exists), where alerts go, the alert policies and the
dashboard. Each is a gcloud-backed call that finds the resource by its name and creates or
updates it; the dry run prints the commands it amounts to."""

from __future__ import annotations

from infra.deploy.gcp import monitoring as gcp
from infra.deploy.gcp.gcloud import GCLOUD, gcloud_argv
from infra.deploy.model import Production
from infra.deploy.monitoring import AlertPolicy, LogMetric, Monitoring, monitoring
from infra.deploy.plan.steps import Call, Step

PHASE = "monitoring"


def _metric_step(project: str, metric: LogMetric) -> Step:
    kind = "count"
    if metric.value_field:
        kind = f"distribution of {metric.value_field} ({metric.unit})"
    text = (
        f"log metric {metric.name}: {kind}, labels {', '.join(metric.labels)}; "
        f"filter {metric.filter}"
    )
    shown = (gcloud_argv(*gcp.log_metric_args(metric), project=project),)
    return Step(f"{PHASE}: log-based metrics", text, Call(GCLOUD, "log-metric", metric, shown))


def _channel_steps(project: str, mon: Monitoring) -> list[Step]:
    phase = f"{PHASE}: notification channels"
    steps = []
    if mon.channel is not None:
        text = (
            f"email channel {mon.channel.display_name!r} → {mon.channel.email} (found by its "
            "address, created when missing)"
        )
        shown = (gcloud_argv(*gcp.channel_create_args(mon.channel), project=project),)
        steps.append(Step(phase, text, Call(GCLOUD, "alert-channel", mon.channel, shown)))
    for name in mon.channels:
        steps.append(Step(phase, f"existing channel {name}", Call(GCLOUD, "no-op", name)))
    if not steps:
        text = (
            "none (AIEXEC_ALERT_EMAIL and AIEXEC_ALERT_CHANNELS unset): incidents open in the "
            "console only"
        )
        steps.append(Step(phase, text, Call(GCLOUD, "no-op", None)))
    return steps


def _policy_step(project: str, policy: AlertPolicy) -> Step:
    targets = [*policy.channels, *([policy.email.email] if policy.email else [])]
    notifies = ", ".join(targets) if targets else "no channel"
    text = f"{policy.display_name}: {policy.summary} → {notifies}"
    shown = (gcloud_argv(*gcp.policy_args(policy), project=project),)
    return Step(f"{PHASE}: alert policies", text, Call(GCLOUD, "alert-policy", policy, shown))


def _dashboard_step(project: str, mon: Monitoring) -> Step:
    config = mon.dashboard_config()
    relative = mon.dashboard.relative_to(mon.dashboard.parents[2])
    dashboard = gcp.Dashboard(str(config["displayName"]), relative)
    widgets = [w.get("title", "") for w in config.get("mosaicLayout", {}).get("tiles", [])]
    text = (
        f"dashboard {dashboard.display_name!r} from {relative} ({len(widgets)} charts; "
        "created, or updated in place by its display name)"
    )
    shown = (gcloud_argv(*gcp.dashboard_args(dashboard), project=project),)
    return Step(f"{PHASE}: dashboard", text, Call(GCLOUD, "dashboard", dashboard, shown))


def monitoring_steps(prod: Production) -> list[Step]:
    """The log-based metrics, the channels, the alert policies and the dashboard."""
    project = prod.target.project
    mon = monitoring(prod.settings, project)
    return [
        *(_metric_step(project, metric) for metric in mon.metrics),
        *_channel_steps(project, mon),
        *(_policy_step(project, policy) for policy in mon.policies),
        _dashboard_step(project, mon),
    ]
