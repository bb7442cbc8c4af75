"""The Firestore client: one per process, built on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable

from google.cloud import firestore

from shared import opcount
from shared.settings import TaskSettings

Client = firestore.Client
# What repositories are given: a callable returning the process's client, so that building a
# service costs no connection (a function's cold start opens one only when a request needs it).
ClientSource = Callable[[], firestore.Client]


def connect(settings: TaskSettings, *, counted: bool = True) -> firestore.Client:
    """A client for the settings' project (the emulator when FIRESTORE_EMULATOR_HOST is set);
    `counted`: its operations counted for `aiexec bench` when the settings ask for it."""
    client = firestore.Client(project=settings.project_id)
    return opcount.instrument_firestore(client, settings) if counted else client


class LazyClient:
    """A `ClientSource`: the given client, or one built by `connect` on the first call."""

    def __init__(
        self,
        settings: TaskSettings,
        client: firestore.Client | None = None,
        *,
        counted: bool = True,
    ) -> None:
        self._settings = settings
        self._client = client
        self._counted = counted
        self._lock = threading.Lock()

    def __call__(self) -> firestore.Client:
        with self._lock:
            if self._client is None:
                self._client = connect(self._settings, counted=self._counted)
            return self._client
