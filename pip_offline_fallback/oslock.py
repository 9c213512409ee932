"""An exclusive lock held by the operating system on a file (the store lock).

The OS releases it when its holder dies, so a killed pip never leaves the store locked. The same
kind of lock as ``filelock`` takes (``flock`` on POSIX, ``msvcrt.locking`` of the first byte on
Windows), so processes of older pip-ff versions, which used filelock, exclude each other with
this one. pip-ff needs no ``filelock`` of its own: its newest releases need Python 3.11, and a
copy chosen for pip-ff's interpreter failed to load in an older target (issue 23).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

_POLL_SECONDS = 0.05


class LockTimeout(Exception):
    """Another process held the lock for the whole timeout."""


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only (mypy reads it)
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive(path: str, timeout: float) -> Iterator[None]:
    """Hold the lock on ``path`` (created when missing, never followed when it is a link);
    raises :class:`LockTimeout` after ``timeout`` seconds (< 0: wait forever)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if timeout >= 0 and time.monotonic() >= deadline:
                raise LockTimeout(path)
            time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
