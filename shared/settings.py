"""The one settings object: every knob of the system, read from the environment.

Names follow the contract where Google's libraries or the providers' SDKs already define one
(`GOOGLE_CLOUD_PROJECT`, `PUBSUB_EMULATOR_HOST`, `OPENAI_API_KEY`, ...); everything else is
`AIEXEC_<FIELD>`. `docs`/`.env.example` list them all. Three sections live in modules of their
own (`settings_models.py`, `settings_deploy.py`, `settings_security.py`) and are mixed in
here: still one object.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.providers.openai.settings import OpenAISettings
from shared.providers.vertex.settings import VertexSettings
from shared.settings_deploy import DeploySettings
from shared.settings_models import ModelSettings
from shared.settings_providers import ProviderSections, parse_model_map
from shared.settings_security import SecuritySettings


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(
    ProviderSections,
    OpenAISettings,
    VertexSettings,
    ModelSettings,
    DeploySettings,
    SecuritySettings,
):
    model_config = SettingsConfigDict(
        env_prefix="AIEXEC_", extra="ignore", populate_by_name=True, frozen=True
    )

    # --- identity and environment -------------------------------------------------------
    project_id: str = Field(
        "demo-aiexec",
        validation_alias=_env("GOOGLE_CLOUD_PROJECT", "AIEXEC_PROJECT_ID"),
        description="Google Cloud project id (the emulators accept any `demo-` id).",
    )
    pubsub_emulator_host: str | None = Field(
        None,
        validation_alias=_env("PUBSUB_EMULATOR_HOST"),
        description="host:port of the Pub/Sub emulator; unset in production.",
    )
    firestore_emulator_host: str | None = Field(
        None,
        validation_alias=_env("FIRESTORE_EMULATOR_HOST"),
        description="host:port of the Firestore emulator; unset in production.",
    )
    version: str = Field("0.1.0", description="Version reported by `GET /health`.")

    # --- names of the public contract ---------------------------------------------------
    topic_tasks: str = Field("tasks", description="Entry topic clients publish tasks to.")
    topic_prefix: str = Field("tasks-", description="Provider queue topic = prefix + provider.")
    topic_dead: str = Field("tasks-dead", description="Final dead-letter topic.")
    topic_results: str = Field("task-results", description="Completion events.")
    topic_report_requests: str = Field(
        "usage-report-requests", description="Topic that triggers the usage report."
    )
    topic_sweep_requests: str = Field(
        "sweep-requests", description="Topic that triggers the sweeper (Cloud Scheduler)."
    )
    collection_tasks: str = Field("tasks", description="Firestore collection of tasks.")
    collection_usage: str = Field("usage", description="Firestore collection of provider calls.")
    collection_reports: str = Field("reports", description="Firestore collection of reports.")
    collection_circuits: str = Field(
        "circuits", description="Firestore collection of circuit-breaker states."
    )

    # --- providers ----------------------------------------------------------------------
    providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["openai", "vertex"],
        description="Provider chain, comma-separated, in fallback order.",
    )
    provider: str | None = Field(
        None,
        validation_alias=_env("AIEXEC_PROVIDER", "PROVIDER"),
        description="The provider a worker deployment serves (worker only).",
    )
    provider_attempts: int = Field(
        3, ge=1, le=10, description="Calls per provider per task before handing over."
    )
    retry_backoff_s: float = Field(
        0.2, ge=0, description="First back-off between transient retries (doubles)."
    )
    max_retry_after_s: float = Field(
        5.0, ge=0, description="Longest `Retry-After` a worker honours in process."
    )
    circuit_failures: int = Field(
        5, ge=1, description="Failures within the window that open a provider's circuit."
    )
    circuit_min_calls: int = Field(
        10, ge=1, description="Calls within the window before the failure ratio can open it."
    )
    circuit_failure_ratio: float = Field(
        0.5, gt=0, le=1, description="Failure ratio (of >= min calls) that opens the circuit."
    )
    circuit_window_s: float = Field(60.0, gt=0, description="Rolling window of the counts.")
    circuit_cooldown_s: float = Field(
        30.0, ge=0, description="How long an open circuit skips its provider before a probe."
    )
    circuit_cache_s: float = Field(
        2.0, ge=0, description="How long a worker trusts its cached view of a circuit."
    )
    task_deadline_s: float = Field(
        900.0, gt=0, description="A task not finished this long after creation fails (expired)."
    )
    requeue_after_s: float = Field(
        120.0, gt=0, description="The sweeper re-publishes a queued task untouched this long."
    )
    # --- usage rollups and the weekly report --------------------------------------------
    collection_rollups: str = Field(
        "rollups", description="Firestore collection of the daily usage rollups (sharded)."
    )
    rollup_shards: int = Field(
        16,
        ge=1,
        le=100,
        description="Rollup documents per day; about the peak of finished tasks per second "
        "(each document takes ~1 write/s). A report reads at most 2 x days x shards documents.",
    )
    report_timezone: str = Field(
        "UTC",
        description="Time zone of report days and ISO weeks (and of the weekly schedule). "
        "Rollups are bucketed by day in this zone when written, so change it between weeks.",
    )
    report_schedule: str = Field(
        "0 8 * * 1", description="Cron of the weekly report trigger (Cloud Scheduler)."
    )
    report_webhook_url: SecretStr | None = Field(
        None, description="Slack / Google Chat incoming webhook the report is posted to."
    )
    report_webhook_timeout_s: float = Field(10.0, gt=0, description="Webhook call timeout.")
    smtp_host: str | None = Field(None, description="SMTP server for the report e-mail.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_user: str | None = Field(None, description="SMTP login (unset: no authentication).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout_s: float = Field(20.0, gt=0, description="SMTP connection timeout.")
    report_email_from: str = Field(
        "aiexec@localhost", description="Sender address of the report e-mail."
    )
    report_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Report e-mail recipients, comma-separated."
    )
    report_delivery_attempts: int = Field(
        3, ge=1, le=10, description="Tries per delivery channel before recording a failure."
    )
    report_delivery_backoff_s: float = Field(
        2.0, ge=0, description="First pause between delivery tries (doubles)."
    )

    # --- task limits --------------------------------------------------------------------
    max_prompt_chars: int = Field(
        100_000, gt=0, description="Longest accepted `task_description`/`system`."
    )
    max_output_tokens_limit: int = Field(
        8192, gt=0, description="Upper bound of `max_output_tokens`."
    )
    max_body_bytes: int = Field(262_144, gt=0, description="Largest accepted HTTP body / message.")
    lease_margin_s: float = Field(
        30.0, ge=0, description="Lease = provider timeout x attempts + this margin."
    )
    wait_max_s: float = Field(60.0, ge=0, description="Upper bound of `?wait=N` on POST /tasks.")
    sync_wait_s: float = Field(120.0, ge=0, description="How long the V2 `POST /` waits.")
    max_waits_per_client: int = Field(
        4,
        ge=1,
        le=1000,
        description="Requests one client may hold waiting (`?wait=N`, V2 `POST /`) at once on "
        "one ingest instance; one more gets 429 `too_many_waits` with Retry-After. The "
        "instance's own cap is derived from its THREADS (docs/contract.md).",
    )
    ingest_concurrency: int = Field(
        40,
        ge=1,
        le=1000,
        description="Requests one ingest (HTTP) instance serves at once: deploy sets the "
        "function's concurrency and its THREADS to this, the local stack starts ingest with "
        "THREADS=this.",
    )
    log_prompts: bool = Field(False, description="Log prompts (debugging only).")

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
    worker_base_port: int = Field(8091, description="First local worker port (one per provider).")
    simulator_port: int = Field(8090, description="Local provider simulator port.")

    # --- benchmarking (`aiexec bench`) ---------------------------------------------------
    count_operations_dir: str | None = Field(
        None,
        description="When set, every process counts its Firestore reads/writes, Pub/Sub "
        "messages and invocations into <dir>/<pid>.json (for `aiexec bench`); unset: no "
        "counting and no cost.",
    )
    worker_threads: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Request threads of each local worker process (functions-framework "
        "THREADS: concurrent provider calls per worker); unset: its default, 4 x CPUs.",
    )

    @field_validator("providers", "report_email_to", mode="before")
    @classmethod
    def _split_chain(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator(
        "provider_key_secrets",
        "worker_max_instances",
        "worker_concurrency",
        mode="before",
    )
    @classmethod
    def _parse_model_map(cls, value: object) -> object:
        return parse_model_map(value)

    @field_validator("report_timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("providers")
    @classmethod
    def _check_chain(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the provider chain is empty")
        if len(set(value)) != len(value):
            raise ValueError(f"a provider appears twice in the chain {value}")
        return value

    def provider_topic(self, provider: str) -> str:
        return f"{self.topic_prefix}{provider}"

    def lease_seconds(self, provider: str) -> float:
        return self.timeout_for(provider) * self.provider_attempts + self.lease_margin_s


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (functions are long-lived processes)."""
    return Settings()
