"""A body being recorded: written to a temporary file as it arrives, filed by the store on commit.

The recorder hashes as it writes, so the record's sha256 costs no second read; a full disk or a
busy store costs the record, never the install. A small body (a page, a metadata file, a small
wheel: see :data:`IN_MEMORY`) is kept in memory instead and filed whole on the write-behind
thread: pip's thread creates no file for it, and when the record holds those bytes already
(every body of an index seen before) no file is written at all.
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

# A body of at most this many bytes (its announced length) is recorded in memory. Small enough
# for the peak memory (at most two such bodies wait: one filed, one received), large enough
# for nearly every page and metadata file, and most wheels of a typical install.
IN_MEMORY = 256 * 1024

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
        f: IO[bytes] | None,
        tmp: str | None,
        identity: str | None = None,
    ) -> None:
        """``f`` and ``tmp``: the temporary file the body goes to; None and None: in memory."""
        self._store = store
        self._identity = identity
        self._url = url
        self._headers = headers
        self._file = f
        self._tmp = tmp
        self._chunks: list[bytes] | None = [] if f is None else None
        self._open = True
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
        if not self._open:
            return
        if self._chunks is not None:
            self._chunks.append(bytes(data))
        elif self._file is not None:
            try:
                self._file.write(data)
            except OSError as exc:  # a full disk costs the record, never the install
                logger.warning("pip-ff: not recording %s: %s", url_key(self._url), exc)
                self.abort()
                return
        self._digest.update(data)
        self.size += len(data)

    def _close(self) -> tuple[bool, IO[bytes] | None, list[bytes] | None]:
        """Take the body away (once): whether it was still open, its file or its chunks. No
        other method writes, commits or aborts after this."""
        with _open_lock:
            was_open, self._open = self._open, False
            f, self._file = self._file, None
            chunks, self._chunks = self._chunks, None
            _open_recorders.discard(self)
        return was_open, f, chunks

    def commit(self) -> None:
        """File the body (on the store's write-behind thread, if it has one)."""
        was_open, f, chunks = self._close()
        if not was_open:
            return
        if chunks is not None:
            body = b"".join(chunks)
            self._store.file_later(lambda: self._filed(body))
        elif f is not None:
            self._store.file_later(lambda: self._filed(f))

    def _filed(self, body: IO[bytes] | bytes) -> None:
        tmp = self._tmp
        try:
            filed: str | bytes
            if isinstance(body, bytes):
                filed = body
            else:
                body.close()
                assert tmp is not None  # a file body has its temporary file
                filed = tmp
            if self._store.commit_body(
                self._url,
                self._headers,
                filed,
                self.sha256,
                self.size,
                self._identity,
            ):
                logger.debug("pip-ff: recorded %s (%d bytes)", url_key(self._url), self.size)
        except OSError as exc:  # the store can't be written: said once, as recorder() does
            self._store.cannot_write(self._url, exc)
            if tmp is not None:
                unlink_quietly(tmp)
        except Exception as exc:  # the record is never worth failing the install for
            logger.warning("pip-ff: not recording %s: %s", url_key(self._url), exc)
            if tmp is not None:
                unlink_quietly(tmp)

    def abort(self) -> None:
        _, f, _ = self._close()
        if f is None:
            return
        with contextlib.suppress(OSError):
            f.close()
        if self._tmp is not None:
            unlink_quietly(self._tmp)

    @property
    def active(self) -> bool:
        return self._open


def unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
