"""The `circuits` collection: `circuits/{provider}`, one circuit breaker's shared state
(shared/circuit.py decides what it holds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.cloud import firestore

from shared.firestore.client import ClientSource
from shared.firestore.conditional import change_document
from shared.settings import TaskSettings


class CircuitDocuments:
    def __init__(self, settings: TaskSettings, client: ClientSource) -> None:
        self.settings = settings
        self._client = client

    def ref(self, provider: str) -> Any:
        return self._client().collection(self.settings.collection_circuits).document(provider)

    def get(self, provider: str) -> dict[str, Any] | None:
        snap = self.ref(provider).get()
        return snap.to_dict() if snap.exists else None

    def all(self) -> dict[str, dict[str, Any]]:
        """Every circuit written so far, by provider."""
        collection = self._client().collection(self.settings.collection_circuits)
        return {snap.id: snap.to_dict() or {} for snap in collection.stream()}

    def put(self, provider: str, data: Mapping[str, Any]) -> None:
        """Overwrite the circuit (a state that does not depend on the one before)."""
        self.ref(provider).set(dict(data))

    def count_success(self, provider: str) -> None:
        """One more success in the current window: a blind increment, no read."""
        self.ref(provider).set({"successes": firestore.Increment(1)}, merge=True)

    def change(
        self,
        provider: str,
        decide: Callable[[dict[str, Any] | None], Mapping[str, Any] | None],
        *,
        tries: int,
        exhausted: Callable[[], Mapping[str, Any] | None],
    ) -> Mapping[str, Any] | None:
        """The circuit changed by `decide` with a write conditioned on what it read
        (shared/firestore/conditional.py); returns what was written."""
        return change_document(self.ref(provider), decide, tries=tries, exhausted=exhausted)
