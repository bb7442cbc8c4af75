"""What a plan is made of: steps, each a `gcloud` command or a client library call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    """A `gcloud` command; `unless` (a check that succeeds: nothing to do) and `only_if`
    (a check whose output must contain a text) make it idempotent."""

    argv: tuple[str, ...]
    unless: tuple[str, ...] | None = None
    only_if: tuple[tuple[str, ...], str] | None = None


@dataclass(frozen=True)
class Call:
    """A Google Cloud client library call (or a local build step) on `payload`; `shown` are
    the gcloud commands it amounts to when it changes something (printed by the dry run)."""

    library: str
    operation: str
    payload: Any
    shown: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Step:
    phase: str
    text: str
    action: Command | Call
