"""The one error type of the local stack: its message says what failed and what to do."""

from __future__ import annotations

from shared.errors import AIExecError


class StackError(AIExecError, RuntimeError):
    """The local stack (or a part of it) could not be started, reached or stopped."""
