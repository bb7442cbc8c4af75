"""What can go wrong when talking to the system, as exceptions a caller can tell apart.

Every error carries a `FieldProblem` (`code`, `message`, `field`) in the same shape ingest
answers with, so code that handles a local validation error also handles the server's.
"""

from __future__ import annotations

from shared.errors import AIExecError
from shared.schemas import FieldProblem


class ClientError(AIExecError):
    """Base of every error the client raises."""


class TaskValidationError(ClientError, ValueError):
    """The task was refused before sending: ingest would have answered `status` (400 or 413)."""

    def __init__(self, problem: FieldProblem, status: int = 400) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.status = status


class RequestRefusedError(ClientError):
    """Ingest answered with an error status (4xx/5xx) and a JSON problem."""

    def __init__(self, status: int, problem: FieldProblem, retry_after_s: float | None = None):
        super().__init__(f"{status} {problem.code}: {problem.message}")
        self.status = status
        self.problem = problem
        self.retry_after_s = retry_after_s


class ServiceUnreachableError(ClientError):
    """Ingest, Pub/Sub or Firestore could not be reached (or timed out answering)."""
