"""The per-user serve ending when idle, without racing a run that is about to use it.

A run holds the serve (``<state>/holders/<pid>``, state.hold) before it proves it, and after
proving it checks that the state file still names it with the lock free (daemon.py's fast
path). A serve that saw no holder and stopped could still be proven by a run whose hold came a
moment later: that run's command would then talk to a serve that is closing. So the serve
stops in two steps, under the lock (two flags, each side writing its own before it reads the
other's): it removes its state file, then looks at the holders again. A holder now: it writes
its state back and keeps serving. None: any later run finds the state gone (or the lock taken)
and takes the lock to start a serve, which the stopping serve holds until it no longer listens,
so that run never finds the old one still answering on the kept port.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pip_offline_fallback import oslock
from pip_offline_fallback.serve import state

if TYPE_CHECKING:
    from collections.abc import Mapping


class IdleStop:
    """``where``: the serve's state directory; ``fields``: its state file's fields (set once it
    is written), written back when a run turns out to hold it."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.fields: Mapping[str, object] = {}
        self._lock: oslock.exclusive | None = None

    def agree(self) -> bool:
        """Whether the idle serve may stop now; when it may, the lock stays held (and its state
        file gone) until :meth:`release`, once it no longer listens."""
        if self._lock is not None:
            return True
        lock = oslock.exclusive(state.lock_path(self.where), 0)
        try:
            lock.__enter__()
        except oslock.LockTimeout:
            return False  # a run is finding, starting or stopping a serve: not now
        try:
            recorded = state.read_state(self.where)
            if recorded is None or state.number(recorded, "pid") != os.getpid():
                return self._keep(lock)  # not named (replaced, or stopped by hand): just stop
            state.clear_state(self.where, os.getpid())
            if state.held(self.where):
                state.write_state(self.where, self.fields)
                lock.__exit__(None, None, None)
                return False
        except BaseException:
            lock.__exit__(None, None, None)
            raise
        return self._keep(lock)

    def _keep(self, lock: oslock.exclusive) -> bool:
        self._lock = lock
        return True

    def release(self) -> None:
        """The serve no longer listens: the lock goes back to the runs."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.__exit__(None, None, None)
