"""The completion-callback section: signing, the outbound-URL guard and delivery retries.

Read by ingest (the guard, at submission), the callbacks function (everything) and the tooling
(the subscription's retry policy; the secret's mount is the deploy section's
`callback_secret_name`); composed into `TaskSettings` so every function that handles tasks
agrees on it (`shared/settings.py`).
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings


class CallbackSettings(BaseSettings):
    callback_allow_private: bool = Field(
        False,
        description="Accept `http` and local addresses (loopback, private, link-local) as "
        "`callback_url`. true in the local stack only: in production a callback goes to a "
        "public `https` address, checked at ingest and again at delivery.",
    )
    callback_secret: SecretStr | None = Field(
        None,
        description="The Standard Webhooks signing secret (`whsec_<base64>`) for clients whose "
        "API key has no secret of its own (and for every task without API keys); from Secret "
        "Manager in production. Unset: callbacks of such tasks are recorded `failed` "
        "(`no_secret`), never sent unsigned.",
    )
    callback_timeout_s: float = Field(
        10.0, gt=0, le=60, description="Connect + response timeout of one callback POST."
    )
    callback_max_attempts: int = Field(
        8,
        ge=1,
        le=100,
        description="Deliveries of a callback that end in a 5xx, 408, 429, a timeout or a "
        "connection error before it is recorded `failed` (a 4xx is final at once).",
    )
    callback_min_backoff_s: int = Field(
        10,
        ge=0,
        le=600,
        description="Pub/Sub retry policy of the callbacks subscription: "
        "the first redelivery delay.",
    )
    callback_max_backoff_s: int = Field(
        600,
        ge=0,
        le=600,
        description="Pub/Sub retry policy of the callbacks subscription: "
        "the longest redelivery delay (exponential in between).",
    )

    callback_requeue_after_s: float = Field(
        600.0,
        gt=0,
        description="The sweeper re-publishes the completion event of a task finished this "
        "long ago whose callback no delivery has tried yet (its event was lost).",
    )

    @field_validator("callback_secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            from shared.callbacks.signing import decode_secret  # (signing reads no settings)

            decode_secret(value.get_secret_value())
        return value or None
