"""An exclusive lock held by the operating system on a file (the store lock).

The OS releases it when its holder dies, so a killed pip never leaves the store locked. The same
kind of lock as ``filelock`` takes (``flock`` on POSIX, ``msvcrt.locking`` of the first byte on
Windows), so processes of older pip-ff versions, which used filelock, exclude each other with
this one. pip-ff needs no ``filelock`` of its own: its newest releases need Python 3.11, and a
copy chosen for pip-ff's interpreter failed to load in an older target (issue 23).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

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


class exclusive:
    """Hold the lock on ``path`` (created when missing, never followed when it is a link);
    raises :class:`LockTimeout` after ``timeout`` seconds (< 0: wait forever).

    A class, not a contextlib generator: ``pip-ff run``'s way (serve/daemon.py) takes it, and
    run imports nothing it can do without (contextlib brings collections and functools)."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd = -1

    def __enter__(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags, 0o644)
        try:
            deadline = time.monotonic() + self.timeout
            while not _try_lock(fd):
                if self.timeout >= 0 and time.monotonic() >= deadline:
                    raise LockTimeout(self.path)
                time.sleep(_POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        fd, self._fd = self._fd, -1
        try:
            _unlock(fd)
        finally:
            os.close(fd)
