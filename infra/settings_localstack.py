"""The local stack and benchmark section: ports, state and threads of `aiexec up` and
`aiexec bench`. Tooling only: no deployed function's settings include it."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class LocalStackSettings(BaseSettings):
    # --- local stack --------------------------------------------------------------------
    ingest_url: str = Field(
        "http://127.0.0.1:8080", description="Where the CLI finds the ingest function."
    )
    state_dir: str = Field(".aiexec", description="Local stack state (pids, logs, local.env).")
    host: str = Field("127.0.0.1", description="Address the local stack binds to.")
    pubsub_port: int = Field(8085, description="Local Pub/Sub emulator port.")
    firestore_port: int = Field(8086, description="Local Firestore emulator port.")
    ingest_port: int = Field(8080, description="Local ingest (HTTP) function port.")
    ingest_events_port: int = Field(8081, description="Local ingest (`tasks` topic) port.")
    finalizer_port: int = Field(8082, description="Local finalizer function port.")
    sweeper_port: int = Field(8083, description="Local sweeper function port.")
    report_port: int = Field(8084, description="Local report function port.")
    callbacks_port: int = Field(8089, description="Local callbacks function port.")
    batcher_port: int = Field(8097, description="Local batcher function port (the batch lane).")
    poller_port: int = Field(8098, description="Local poller function port (the batch lane).")
    worker_base_port: int = Field(8091, description="First local worker port (one per provider).")
    simulator_port: int = Field(8090, description="Local provider simulator port.")
    sim_batch_delay_s: float = Field(
        5.0,
        ge=0,
        description="Seconds a batch job of the provider simulator takes to finish (OpenAI "
        "Batches, Vertex AI batch prediction); `aiexec sim batch --delay S` changes it at run "
        "time for jobs created afterwards.",
    )
    storage_port: int = Field(8087, description="Local Cloud Storage emulator port.")
    trace_collector_port: int = Field(
        4318,
        description="Local trace collector port (OTLP over HTTP in; `GET /traces/<trace_id>` "
        "out): the local stack's functions export their spans to it.",
    )
    storage_bucket: str = Field(
        "demo-aiexec-attachments",
        pattern=r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$",
        description="Bucket the local Cloud Storage emulator creates at start; where "
        "`aiexec upload` puts files unless given `--bucket`.",
    )

    # --- benchmarking (`aiexec bench`) ---------------------------------------------------
    worker_threads: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Request threads of each local worker process (functions-framework "
        "THREADS: concurrent provider calls per worker); unset: its default, 4 x CPUs.",
    )
