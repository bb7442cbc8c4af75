"""The tracing section: where each function's spans go (shared/tracing.py) and how a task links
to its trace. Every function reads it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

DEFAULT_TRACE_LINK = "https://console.cloud.google.com/traces/list?project={project}&tid={trace_id}"


class TracingSettings(BaseSettings):
    # --- traces (OpenTelemetry) ---------------------------------------------------------
    trace_exporter: Literal["none", "cloud_trace", "otlp"] = Field(
        "none",
        description="Where spans are exported: `cloud_trace` (deployed functions; the deploy "
        "sets it), `otlp` (OTLP over HTTP to AIEXEC_TRACE_OTLP_ENDPOINT: the local stack's "
        "collector) or `none` (spans still give every task a trace id, exported nowhere).",
    )
    trace_otlp_endpoint: str = Field(
        "http://127.0.0.1:4318/v1/traces",
        description="OTLP/HTTP endpoint spans are posted to when AIEXEC_TRACE_EXPORTER=otlp.",
    )
    trace_sample_ratio: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of new traces sampled (exported); a task's later hops follow its "
        "ingest's decision.",
    )
    trace_export_timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Longest a function waits at the end of its last request in flight for its "
        "spans to be exported (Cloud Run throttles the CPU once no request is in flight).",
    )
    trace_export_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="While other requests are in flight, spans are exported in the background "
        "at most this often; the last request in flight exports what is left before it "
        "returns.",
    )
    trace_link_template: str = Field(
        DEFAULT_TRACE_LINK,
        description="Link from a task to its trace (`{project}`, `{trace_id}`): Cloud Trace by "
        "default; the local stack sets its collector's `/traces/{trace_id}` page.",
    )

    def trace_link(self, project: str, trace_id: str) -> str:
        """The page showing `trace_id` (the status page links tasks with it)."""
        return self.trace_link_template.format(project=project, trace_id=trace_id)
