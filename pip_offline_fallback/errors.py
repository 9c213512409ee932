"""The one root exception of pip-ff."""

from __future__ import annotations


class PipFFError(Exception):
    """Base class of every error pip-ff raises on purpose."""


class UsageError(PipFFError):
    """A pip-ff option or variable is malformed (exit status 2, like pip)."""
