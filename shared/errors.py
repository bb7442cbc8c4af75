"""The root of the project's own exceptions.

Every exception class this project defines derives from `AIExecError` (besides any standard base
it already had, such as `ValueError`), so `except AIExecError` catches exactly what we raise on
purpose and nothing from a library or the interpreter.
"""

from __future__ import annotations

__all__ = ["AIExecError"]


class AIExecError(Exception):
    """The root of every error this project raises on purpose."""
