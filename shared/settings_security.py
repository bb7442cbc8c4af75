"""Settings of ingest's defences, part of the one settings object (`shared/settings.py`)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

# Pub/Sub topic ids: 3-255 characters, a letter first, no `goog` prefix (Pub/Sub's resource names).
_TOPIC_RE = re.compile(r"^(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
# Client names (shared/task_ids.py; repeated here because settings load before everything).
_CLIENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
        8,
        ge=1,
        le=64,
        description="Documents a client's monthly budget is split over (each takes ~1 write/s): "
        "about the peak accepted submissions per second of one client.",
    )
    max_json_depth: int = Field(
        8, ge=2, le=64, description="Deepest JSON nesting accepted in a task request."
    )
    max_json_members: int = Field(
        256,
        ge=16,
        description="Most JSON object fields plus list items accepted in a task request.",
    )
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
