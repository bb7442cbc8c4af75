"""The ingest section: API keys, rate limits, budgets, hostile input and waiting requests;
read by the ingest function only (`shared/settings.py` composes it into `IngestSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

# The client-name rule, kept next to the ingest settings it guards (tests compare it with
# shared/task_ids.py); the Pub/Sub clients that use it are core settings now.
from shared.settings_core import _CLIENT_RE

__all__ = ["_CLIENT_RE", "SecuritySettings"]


class SecuritySettings(BaseSettings):
    # --- ingest security: API keys, rate limits, budgets, hostile input ------------------
    api_key_pepper: SecretStr | None = Field(
        None,
        description="Secret mixed into the HMAC-SHA256 that `api_keys/{hash}` stores instead "
        "of each key; from Secret Manager in production (the ingest function and whoever runs "
        "`aiexec keys` need the same value). Unset: a fixed local pepper, with the emulators only.",
    )
    api_key_pepper_secret: str = Field(
        "aiexec-api-key-pepper",
        description="Secret Manager secret holding the pepper; deploy mounts it into ingest as "
        "AIEXEC_API_KEY_PEPPER when API keys are required.",
    )
    api_key_cache_s: float = Field(
        10.0,
        ge=0,
        description="How long an ingest instance trusts a key lookup: a new or revoked key "
        "takes effect within this.",
    )
    collection_api_keys: str = Field(
        "api_keys", description="Firestore collection of API keys (by HMAC of the key)."
    )
    collection_ratelimits: str = Field(
        "ratelimits", description="Firestore collection of the shared per-client token buckets."
    )
    collection_budgets: str = Field(
        "budgets", description="Firestore collection of per-client monthly budget counters."
    )
    collection_budget_reservations: str = Field(
        "budget_reservations",
        description="Firestore collection of open budget reservations (one per accepted task).",
    )
    rate_limit_lease_s: float = Field(
        0.25,
        gt=0,
        le=5,
        description="An ingest instance takes this many seconds' worth of a client's rate from "
        "Firestore at once; accepted requests stay within rate x (window + this) + burst.",
    )
    anonymous_rate: str | None = Field(
        None,
        pattern=r"^\d+(\.\d+)?/(s|m|h)$",
        description="Rate limit of the anonymous client when API keys are off (e.g. 10/s, "
        "600/m); unset: none.",
    )
    anonymous_burst: int | None = Field(
        None, ge=1, description="Burst of the anonymous client; unset: twice its rate per second."
    )
    anonymous_monthly_budget_usd: float | None = Field(
        None, ge=0, description="Monthly budget of the anonymous client when API keys are off."
    )
    budget_shards: int = Field(
        20,
        ge=1,
        le=2000,
        description="Documents every client's monthly budget is split over, when set (each "
        "takes ~1 write/s). Unset: per client, its rate limit / 0.8 (its peak of accepted "
        "submissions/s), or AIEXEC_PEAK_TASKS_PER_S / 0.8 without one, fewer for a budget too "
        "small for one reservation a shard; a month keeps the count of its first reservation.",
    )
    max_json_depth: int = Field(
        8, ge=2, le=64, description="Deepest JSON nesting accepted in a task request."
    )
    max_json_members: int = Field(
        256,
        ge=16,
        description="Most JSON object fields plus list items accepted in a task request.",
    )

    # --- ingest: waiting requests -------------------------------------------------------
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
