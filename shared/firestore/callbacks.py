"""A task's completion callback, recorded on the task: `callback: {status, attempts,
last_status, delivered_at, webhook_id, sending_until}` (shared/callbacks/).

One delivery at a time per task: an attempt is claimed with a conditional write (it counts the
attempt and holds `sending_until`), and its outcome is written only while the claim is still
the one it made. A callback `delivered` or `failed` is never claimed again, so duplicate
completion events send nothing. Also the per-client signing secret of the API keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.firestore.client import ClientSource
from shared.firestore.conditional import change_document
from shared.schemas import TERMINAL_STATUSES
from shared.settings import TaskSettings

CLAIM_TRIES = 5
FINAL = ("delivered", "failed")


class ClaimKind(StrEnum):
    SEND = "send"  # this delivery sends attempt `attempt`
    NO_CALLBACK = "no_callback"  # the task has no callback_url (or does not exist)
    NOT_FINISHED = "not_finished"  # not terminal (an event that came before its write)
    DONE = "done"  # delivered or failed already
    BUSY = "busy"  # another delivery holds the claim


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    task: dict[str, Any] | None = None
    attempt: int = 0


class CallbackRecords:
    def __init__(
        self, settings: TaskSettings, client: ClientSource, keys_collection: str = "api_keys"
    ) -> None:
        self.settings = settings
        self._client = client
        self._keys = keys_collection

    def _ref(self, doc_id: str) -> Any:
        return self._client().collection(self.settings.collection_tasks).document(doc_id)

    def get(self, doc_id: str) -> dict[str, Any] | None:
        snap = self._ref(doc_id).get()
        return (snap.to_dict() or {}) if snap.exists else None

    def claim(self, doc_id: str, webhook_id: str, now: datetime, hold_s: float) -> Claim:
        """Claim the next attempt of `doc_id`'s callback `webhook_id`, or say why not."""
        seen: list[Claim] = []

        def decide(task: dict[str, Any] | None) -> dict[str, Any] | None:
            seen.clear()
            verdict = _verdict(task, webhook_id, now)
            if verdict is not None:
                seen.append(Claim(verdict, task))
                return None
            assert task is not None
            previous = _same_completion(task, webhook_id)
            attempt = int(previous.get("attempts", 0)) + 1
            record = previous | {
                "status": "pending",
                "webhook_id": webhook_id,
                "attempts": attempt,
                "sending_until": now + timedelta(seconds=hold_s),
            }
            seen.append(Claim(ClaimKind.SEND, task | {"callback": record}, attempt))
            return {"callback": record}

        change_document(self._ref(doc_id), decide, tries=CLAIM_TRIES, exhausted=_busy)
        return seen[0] if seen else Claim(ClaimKind.BUSY)

    def record(self, doc_id: str, webhook_id: str, attempt: int, outcome: dict[str, Any]) -> bool:
        """Write an attempt's outcome (`status`, `last_status`, ...) if its claim still holds."""
        written: list[bool] = []

        def decide(task: dict[str, Any] | None) -> dict[str, Any] | None:
            current = (task or {}).get("callback") or {}
            mine = current.get("webhook_id") == webhook_id and current.get("attempts") == attempt
            written[:] = [mine and current.get("status") not in FINAL]
            if not written[0]:
                return None
            return {"callback": current | outcome | {"sending_until": None}}

        change_document(self._ref(doc_id), decide, tries=CLAIM_TRIES, exhausted=_busy)
        return bool(written and written[0])

    def client_secret(self, client_id: str) -> str | None:
        """The newest signing secret among `client_id`'s API keys that are not revoked."""
        query = (
            self._client()
            .collection(self._keys)
            .where(filter=FieldFilter("client_id", "==", client_id))
        )
        keys = [snap.to_dict() or {} for snap in query.stream()]
        usable = [k for k in keys if k.get("callback_secret") and not k.get("revoked")]
        usable.sort(key=lambda k: str(k.get("created_at", "")))
        return str(usable[-1]["callback_secret"]) if usable else None


def _verdict(task: dict[str, Any] | None, webhook_id: str, now: datetime) -> ClaimKind | None:
    """Why this delivery sends nothing (None: it sends)."""
    if task is None or not (task.get("request") or {}).get("callback_url"):
        return ClaimKind.NO_CALLBACK
    if task.get("status") not in TERMINAL_STATUSES:
        return ClaimKind.NOT_FINISHED
    current = _same_completion(task, webhook_id)
    if current.get("status") in FINAL:
        return ClaimKind.DONE
    until = current.get("sending_until")
    if isinstance(until, datetime) and until > now:
        return ClaimKind.BUSY
    return None


def _same_completion(task: dict[str, Any], webhook_id: str) -> dict[str, Any]:
    """The callback record of this completion (a replayed task ends again: a new record)."""
    current: dict[str, Any] = task.get("callback") or {}
    return current if current.get("webhook_id") == webhook_id else {}


def _busy() -> None:
    return None
