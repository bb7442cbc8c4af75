"""The core section: what every deployed function reads (identity, the names of topics and
collections, the provider chain, retries, circuits, deadlines, task limits, usage rollups).

Names follow the contract where Google's libraries already define one (`GOOGLE_CLOUD_PROJECT`,
`PUBSUB_EMULATOR_HOST`, ...); everything else is `AIEXEC_<FIELD>` (`SETTINGS_CONFIG`). The other
sections are mixed in per service by `shared/settings.py`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Every composed settings class reads the environment the same way.
SETTINGS_CONFIG = SettingsConfigDict(
    env_prefix="AIEXEC_", extra="ignore", populate_by_name=True, frozen=True
)
# Pub/Sub topic ids: 3-255 characters, a letter first, no `goog` prefix (Pub/Sub's resource names).
_TOPIC_RE = re.compile(r"^(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
# Client names (shared/task_ids.py; repeated here because settings load before everything).
_CLIENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Firestore's guidance for one document: about 1 sustained write per second. Shards are sized
# for 0.8 on average: writes pick a shard at random, so some take more than the mean.
WRITES_PER_DOC_PER_S = 0.8
# Writes per task to each sharded family: one rollup increment per finished task; one budget
# reservation per accepted task of a client with a budget (settlement only when short).
SHARDED_WRITES_PER_TASK = {"rollup_shards": (1.0, 2000), "budget_shards": (1.0, 2000)}


def shard_counts(peak_tasks_per_s: float) -> dict[str, int]:
    """Shard counts that keep each shard document under ~1 write/s at this peak (capped at
    2,000). A client's budget shards follow that client's own peak (shared/budget_count.py);
    rate limits size their shards from each client's rate (shared/ratelimit.py `Plan`)."""
    return {
        name: max(1, min(cap, math.ceil(peak_tasks_per_s * per_task / WRITES_PER_DOC_PER_S)))
        for name, (per_task, cap) in SHARDED_WRITES_PER_TASK.items()
    }


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class CoreSettings(BaseSettings):
    model_config = SETTINGS_CONFIG

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

    # Core, not ingest's section: it decides task document ids (`{client_id}~{task_id}`),
    # which every function must agree on.
    api_keys_required: bool = Field(
        False,
        description="Ingest requires an API key; only then is the deployed ingest function "
        "public. Without it ingest stays IAM-only (callers need roles/run.invoker).",
    )

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

    # --- provider chain, retries, circuits and deadlines ----------------------------------
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
    max_task_deadline_s: float = Field(
        86_400.0,
        gt=0,
        description="Largest `deadline_s` a task may ask for (its own deadline; without one a "
        "task gets AIEXEC_TASK_DEADLINE_S).",
    )
    requeue_after_s: float = Field(
        120.0, gt=0, description="The sweeper re-publishes a queued task untouched this long."
    )
    # --- batch lane deadlines (the batcher's own settings: settings_batch.py) ---------------
    batch_deadline_s: float = Field(
        86_400.0,
        ge=3600,
        description="Deadline of a `mode: batch` task that gives no `deadline_s` (at most "
        "AIEXEC_MAX_TASK_DEADLINE_S; a batch task's own deadline_s is at least 3600).",
    )
    batch_online_margin_s: float = Field(
        900.0,
        gt=0,
        description="A queued batch task whose deadline is nearer than this moves to the online "
        "lane (the sweeper publishes it to its first provider's topic).",
    )
    # --- usage rollups ------------------------------------------------------------------
    collection_rollups: str = Field(
        "rollups", description="Firestore collection of the daily usage rollups (sharded)."
    )
    peak_tasks_per_s: float = Field(
        16.0,
        gt=0,
        le=100_000,
        description="Peak tasks per second the deployment is sized for (one client's peak "
        "included): shard counts not set explicitly follow it, so that no document takes more "
        "than ~1 write/s (AIEXEC_ROLLUP_SHARDS = peak / 0.8; a client's budget shards = its "
        "rate limit / 0.8, or this peak / 0.8 for a client without one).",
    )
    rollup_shards: int = Field(
        20,
        ge=1,
        le=2000,
        description="Rollup documents per day; default: AIEXEC_PEAK_TASKS_PER_S / 0.8 (each "
        "document takes ~1 write/s). A report reads at most 2 x days x shards documents.",
    )
    report_timezone: str = Field(
        "UTC",
        description="Time zone of report days and ISO weeks (and of the weekly schedule). "
        "Rollups are bucketed by day in this zone when written, so change it between weeks.",
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
    log_prompts: bool = Field(False, description="Log prompts (debugging only).")
    count_operations_dir: str | None = Field(
        None,
        description="When set, every process counts its Firestore reads/writes, Pub/Sub "
        "messages and invocations into <dir>/<pid>.json (for `aiexec bench`); unset: no "
        "counting and no cost.",
    )
    usage_ttl_days: int = Field(
        0,
        ge=0,
        description="Days raw `usage` documents are kept (Firestore TTL on `expire_at`; the "
        "report reads the rollups). 0 keeps them forever.",
    )

    # --- attachments (file parts and `attachments`; checked at ingest, read by workers) --
    max_attachments: int = Field(
        8, ge=0, le=64, description="Most files one task may attach (file parts included)."
    )
    max_attachment_bytes: int = Field(
        10 * 1024 * 1024,
        gt=0,
        description="Largest file a task may attach (checked at ingest from the object's "
        "metadata or the URL's Content-Length, and again by the worker as it reads).",
    )
    attachment_mime_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/gif",
            "application/pdf",
        ],
        description="MIME types a task may attach, comma-separated (every provider of the "
        "chain must read them: images and PDFs).",
    )
    attachment_timeout_s: float = Field(
        10.0,
        gt=0,
        le=60,
        description="Timeout of one attachment check at ingest (object metadata, HTTPS HEAD) "
        "and of one read by a worker.",
    )
    attachment_allow_private: bool = Field(
        False,
        description="Accept `http` and local addresses (loopback, private, link-local) in "
        "attachment URLs. Local stack only: in production an `https` attachment must resolve "
        "to public addresses only (checked at ingest and again when the worker fetches it).",
    )

    # --- Pub/Sub clients ----------------------------------------------------------------
    pubsub_client_topics: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Clients with a `tasks` topic of their own (`client=topic,...`): deploy "
        "creates each topic with a push subscription to ingest-events, and every message on it "
        "is that client's task whatever its `client_id` attribute says (another name is "
        "refused). Grant roles/pubsub.publisher on the topic to that client only: this, not "
        "the attribute, is what tells publishers apart.",
    )
    pubsub_client_attribute: bool = Field(
        True,
        description="Whether messages on the shared `tasks` topic may name their client with "
        "the `client_id` attribute (checked like a client name). false: every message there is "
        "client `pubsub` and another name is refused; clients publish to their own topics.",
    )

    @field_validator("providers", "attachment_mime_types", mode="before")
    @classmethod
    def _split_chain(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

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

    @field_validator("pubsub_client_topics", mode="before")
    @classmethod
    def _parse_client_topics(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("{"):
            parsed: Any = json.loads(text)
            return parsed
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("expected client=topic pairs separated by commas")
        return {client.strip(): topic.strip() for client, topic in pairs}

    @field_validator("pubsub_client_topics")
    @classmethod
    def _check_client_topics(cls, value: dict[str, str]) -> dict[str, str]:
        for client, topic in value.items():
            if not _CLIENT_RE.fullmatch(client) or ".." in client:
                raise ValueError(f"{client[:80]!r} is not a client name")
            if not _TOPIC_RE.fullmatch(topic):
                raise ValueError(f"{topic[:80]!r} is not a Pub/Sub topic name")
        if len(set(value.values())) != len(value):
            raise ValueError("two clients share a topic")
        return value

    @model_validator(mode="after")
    def _shards_from_peak(self) -> Self:
        """Shard counts left unset follow `peak_tasks_per_s` (`shard_counts`)."""
        for name, count in shard_counts(self.peak_tasks_per_s).items():
            if name in type(self).model_fields and name not in self.model_fields_set:
                object.__setattr__(self, name, count)  # frozen model: set while validating
        return self

    def provider_topic(self, provider: str) -> str:
        return f"{self.topic_prefix}{provider}"
