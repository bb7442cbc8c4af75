"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest

from shared import worker as worker_module


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(worker_module, "pause", recorded.append)
    return recorded
