"""A body being recorded: written to a temporary file as it arrives, filed by the store on commit.

The recorder hashes as it writes, so the record's sha256 costs no second read; a full disk or a
busy store costs the record, never the install.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import threading
from typing import IO, TYPE_CHECKING

from pip_offline_fallback.urls import url_key

if TYPE_CHECKING:
    from pip_offline_fallback.store.writing import Store

logger = logging.getLogger(__name__)

# Recorders neither committed nor aborted yet. A run that ends early (Ctrl-C, an error that
# abandons a download) never closes their response; at exit their temporary files go.
_open_recorders: set[Recorder] = set()
_open_lock = threading.Lock()


@atexit.register
def _abort_open_recorders() -> None:
    with _open_lock:
        recorders = list(_open_recorders)
    for recorder in recorders:
        recorder.abort()


class Recorder:
    """Receives a body chunk by chunk; :meth:`commit` files it, :meth:`abort` forgets it."""

    def __init__(
        self,
        store: Store,
        url: str,
        headers: dict[str, str],
        f: IO[bytes],
        tmp: str,
        identity: str | None = None,
    ) -> None:
        self._store = store
        self._identity = identity
        self._url = url
        self._headers = headers
        self._file: IO[bytes] | None = f
        self._tmp = tmp
        self._digest = hashlib.sha256()
        self.size = 0
        with _open_lock:
            _open_recorders.add(self)

    @property
    def sha256(self) -> str:
        """The hex sha256 of every byte written so far (the whole body, once committed)."""
        return self._digest.hexdigest()

    def digest_so_far(self) -> hashlib._Hash:
        """A copy of the running sha256 of every byte written so far."""
        return self._digest.copy()

    def write(self, data: bytes | memoryview) -> None:
        if self._file is None:
            return
        try:
            self._file.write(data)
        except OSError as exc:  # a full disk costs the record, never the install
            logger.warning("pip-ff: not recording %s: %s", url_key(self._url), exc)
            self.abort()
            return
        self._digest.update(data)
        self.size += len(data)

    def _close(self) -> IO[bytes] | None:
        """Take the file away (once): no other method writes, commits or aborts after this."""
        f, self._file = self._file, None
        with _open_lock:
            _open_recorders.discard(self)
        return f

    def commit(self) -> None:
        """File the body (on the store's write-behind thread, if it has one)."""
        f = self._close()
        if f is not None:
            self._store.file_later(lambda: self._filed(f))

    def _filed(self, f: IO[bytes]) -> None:
        try:
            f.close()
            if self._store.commit_body(
                self._url, self._headers, self._tmp, self.sha256, self.size, self._identity
            ):
                logger.debug("pip-ff: recorded %s (%d bytes)", url_key(self._url), self.size)
        except Exception as exc:  # the record is never worth failing the install for
            logger.warning("pip-ff: not recording %s: %s", url_key(self._url), exc)
            unlink_quietly(self._tmp)

    def abort(self) -> None:
        f = self._close()
        if f is None:
            return
        with contextlib.suppress(OSError):
            f.close()
        unlink_quietly(self._tmp)

    @property
    def active(self) -> bool:
        return self._file is not None


def unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
