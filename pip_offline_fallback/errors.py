"""The one root exception of pip-ff."""

from __future__ import annotations

# The exit status of a run stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


class PipFFError(Exception):
    """Base class of every error pip-ff raises on purpose."""


class UsageError(PipFFError):
    """A pip-ff option or variable is malformed (exit status 2, like pip)."""
