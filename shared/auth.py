"""API keys: who is calling ingest over HTTP, and which limits apply to them.

A key is `aiexec_` + 43 random URL-safe characters (256 bits), shown once when created.
Firestore keeps only `api_keys/{HMAC-SHA256(pepper, key)}`: the client it belongs to, its rate
limit, burst and monthly budget, and whether it is revoked. The pepper (`AIEXEC_API_KEY_PEPPER`,
from Secret Manager in production) is not in Firestore, so a copy of the database alone cannot
be used to test guessed keys offline.

With `AIEXEC_API_KEYS_REQUIRED=true`, `POST /tasks`, `GET /tasks/{id}` and `POST /` need
`Authorization: Bearer <key>` or `X-API-Key: <key>`: 401 without a key or with an unknown one,
403 with a revoked one. Each instance caches lookups for `AIEXEC_API_KEY_CACHE_S` (a revocation
takes effect within that), unknown keys included, so a flood of one bad key costs one read.
Without keys every caller is the `anonymous` client, limited only if `AIEXEC_ANONYMOUS_*` say so.
With keys, each client's task ids are its own (`tasks/{client_id}~{task_id}`, shared/task_ids.py,
which also holds the rule of client names).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.errors import AIExecError
from shared.firestore.client import ClientSource
from shared.firestore.keys import KeyDocuments
from shared.ratelimit import Limit, RateLimiter
from shared.request_guard import RequestProblemError, refuse
from shared.settings import IngestSettings
from shared.structured_logs import log
from shared.task_ids import check_client_name  # the rule of client names (ids use it too)

__all__ = [
    "ANONYMOUS",
    "KEY_ID_CHARS",
    "KEY_PREFIX",
    "Admission",
    "ApiKey",
    "Caller",
    "Headers",
    "KeyStore",
    "PepperMissingError",
    "check_client_name",
    "hash_key",
    "pepper",
    "presented_key",
]

logger = logging.getLogger(__name__)
KEY_PREFIX = "aiexec_"
_KEY_RE = re.compile(r"^aiexec_[A-Za-z0-9_-]{43}$")
ANONYMOUS = "anonymous"
KEY_ID_CHARS = 12  # of the hash: names a key in `aiexec keys list/revoke`, reveals nothing
_CACHE_MAX = 10_000
# Only for the local stack (emulators): production refuses to hash without a real pepper.
_LOCAL_PEPPER = b"aiexec-local-development-pepper"


class PepperMissingError(AIExecError, RuntimeError):
    pass


def pepper(settings: IngestSettings) -> bytes:
    if settings.api_key_pepper is not None:
        return settings.api_key_pepper.get_secret_value().encode()
    if settings.firestore_emulator_host:
        return _LOCAL_PEPPER
    raise PepperMissingError(
        "AIEXEC_API_KEY_PEPPER is not set: API keys are stored as HMACs with that secret "
        "(in production: mount it from Secret Manager)"
    )


def hash_key(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    client_id: str
    rate: str | None
    burst: int | None
    monthly_budget_usd: float | None
    revoked: bool

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ApiKey:
        budget = doc.get("monthly_budget_usd")
        return cls(
            key_id=str(doc.get("key_id", "")),
            client_id=str(doc["client_id"]),
            rate=doc.get("rate"),
            burst=doc.get("burst"),
            monthly_budget_usd=None if budget is None else float(budget),
            revoked=bool(doc.get("revoked", False)),
        )


@dataclass(frozen=True)
class Caller:
    """Who is calling: the client tasks are created for, and the limits that apply."""

    client_id: str
    key_id: str | None = None
    limit: Limit | None = None
    monthly_budget_usd: float | None = None

    @property
    def rate_per_s(self) -> float | None:
        """The client's peak of accepted submissions: its rate limit, if it has one."""
        return self.limit.rate_per_s if self.limit is not None else None


class KeyStore:
    """`api_keys/{hash}` in Firestore, and a short per-instance cache of lookups."""

    def __init__(
        self,
        settings: IngestSettings,
        client: ClientSource,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.documents = KeyDocuments(settings, client)
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def collection(self) -> Any:
        return self.documents.collection()

    def create(
        self,
        client_id: str,
        *,
        rate: str | None = "10/s",
        burst: int | None = None,
        monthly_budget_usd: float | None = None,
        callback_secret: str | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key for `client_id`: (the key, shown once and never stored; its record).

        `callback_secret` (`whsec_…`) signs the completion callbacks of this client's tasks; it
        is stored as it is, since signing needs it (shared/callbacks/)."""
        check_client_name(client_id)
        limit = Limit.of(rate, burst) if rate is not None else None  # validates the rate
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(pepper(self.settings), key)
        record = ApiKey(
            key_id=digest[:KEY_ID_CHARS],
            client_id=client_id,
            rate=rate,
            burst=limit.burst if limit else None,
            monthly_budget_usd=monthly_budget_usd,
            revoked=False,
        )
        self.documents.create(
            digest,
            {
                "key_id": record.key_id,
                "client_id": client_id,
                "rate": rate,
                "burst": record.burst,
                "monthly_budget_usd": monthly_budget_usd,
                "revoked": False,
                "hint": key[: len(KEY_PREFIX) + 4] + "…",
                "created_at": datetime.now(UTC),
                **({"callback_secret": callback_secret} if callback_secret else {}),
            },
        )
        return key, record

    def list_keys(self) -> list[dict[str, Any]]:
        docs = self.documents.all()
        return sorted(docs, key=lambda d: (str(d.get("client_id")), str(d.get("created_at"))))

    def revoke(self, *, key_id: str | None = None, key: str | None = None) -> list[str]:
        """Revoke one key, named by its id or by the key itself; returns the ids revoked."""
        if key is not None:
            digest = hash_key(pepper(self.settings), key)
            return self._revoke([digest] if self.documents.get(digest) is not None else [])
        return self._revoke(self.documents.digests_where("key_id", key_id))

    def revoke_client(self, client_id: str) -> list[str]:
        """Revoke every key of a client."""
        return self._revoke(self.documents.digests_where("client_id", client_id))

    def _revoke(self, digests: list[str]) -> list[str]:
        self.documents.revoke(digests, datetime.now(UTC))
        return [digest[:KEY_ID_CHARS] for digest in digests]

    def lookup(self, key: str) -> ApiKey | None:
        """The key's record (cached for `api_key_cache_s`), or None if there is no such key."""
        digest = hash_key(pepper(self.settings), key)
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        doc = self.documents.get(digest)
        record = ApiKey.from_doc(doc) if doc is not None else None
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:  # bounded: a flood of random keys can't grow it
                self._cache.clear()
            self._cache[digest] = (now + self.settings.api_key_cache_s, record)
        return record


class Headers(Protocol):
    """Request headers (Flask's, or a dict): case handling is the caller's."""

    def get(self, key: str, /) -> str | None: ...


def presented_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key: <key>` (the former wins)."""
    authorization = headers.get("Authorization") or ""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    other = (headers.get("X-API-Key") or "").strip()
    return other or None


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aiexec"'}


class Admission:
    """Authentication (when keys are required) and the per-client rate limit."""

    def __init__(self, settings: IngestSettings, keys: KeyStore, limiter: RateLimiter) -> None:
        self.settings = settings
        self.keys = keys
        self.limiter = limiter
        self._anonymous = Caller(
            ANONYMOUS,
            limit=Limit.of(settings.anonymous_rate, settings.anonymous_burst)
            if settings.anonymous_rate
            else None,
            monthly_budget_usd=settings.anonymous_monthly_budget_usd,
        )

    @classmethod
    def from_settings(cls, settings: IngestSettings, client: ClientSource) -> Admission:
        if settings.api_keys_required:
            pepper(settings)  # fail at start-up, not on the first request
        return cls(settings, KeyStore(settings, client), RateLimiter(settings, client))

    def authenticate(self, headers: Headers) -> Caller:
        """The caller, or RequestProblemError 401/403. Without required keys: anonymous."""
        if not self.settings.api_keys_required:
            return self._anonymous
        key = presented_key(headers)
        if key is None:
            raise _unauthorized(
                "missing_api_key",
                "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>",
            )
        # A string that cannot be a key is refused without a Firestore read.
        record = self.keys.lookup(key) if _KEY_RE.fullmatch(key) else None
        if record is None:
            log(logger, logging.INFO, "unknown API key refused")
            raise _unauthorized("invalid_api_key", "the API key is not valid")
        if record.revoked:
            log(logger, logging.INFO, "revoked API key refused", key_id=record.key_id)
            raise refuse(403, "api_key_revoked", "the API key has been revoked")
        limit = Limit.of(record.rate, record.burst) if record.rate else None
        return Caller(record.client_id, record.key_id, limit, record.monthly_budget_usd)

    def admit(self, headers: Headers) -> Caller:
        """Authenticate, then take a token from the caller's rate limit (429 when out)."""
        caller = self.authenticate(headers)
        if caller.limit is not None:
            self.limiter.acquire(caller.client_id, caller.limit)
        return caller

    def may_read(self, caller: Caller, task: Mapping[str, Any]) -> bool:
        """Whether the caller may see a task: its own only, when keys are required."""
        return not self.settings.api_keys_required or task.get("client_id") == caller.client_id


def _unauthorized(code: str, message: str) -> RequestProblemError:
    error = refuse(401, code, message)
    error.headers.update(_CHALLENGE)
    return error
