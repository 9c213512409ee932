"""The store's key: what stands for a request's credentials in the record.

An entry recorded with credentials carries HMAC(key, Authorization header), never the
credentials, and is served only to a request whose header gives the same digest. The key is 32
random bytes in ``v1/key``, made by the first writer. This protects identities only: entries,
pages and blobs are plain files that whoever can write the cache directory can plant (see
docs/security.md).

A key that can't be read (emptied, a directory, a symbolic link) must not turn the isolation
off: credentialed answers are then neither recorded nor served (:data:`NO_KEY`), with one
warning.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import logging
import os
import secrets
import stat
import threading

logger = logging.getLogger(__name__)

# The identity of a credentialed request when there is no usable key: it is never recorded,
# and it matches no entry, not even one that claims this very string.
NO_KEY = "no-usable-key"
_KEY_SIZE = 32
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _open_key(path: str) -> int:
    """A read-only descriptor of the key, a regular file reached without following a link."""
    if not _NOFOLLOW and os.path.islink(path):  # no O_NOFOLLOW (Windows)
        raise OSError(errno.ELOOP, "a symbolic link", path)
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _BINARY)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    return fd


class StoreKey:
    """The key of one store, read (or made) once per process; safe to share between threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._loaded = False
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def identity(self, authorization: str | None) -> str | None:
        """The keyed digest that stands for ``authorization`` (None: it had none)."""
        if not authorization:
            return None
        key = self._get()
        if key is None:
            return NO_KEY
        return hmac.new(key, authorization.encode("utf-8"), hashlib.sha256).hexdigest()

    def _get(self) -> bytes | None:
        if not self._loaded:
            with self._lock:  # serve's threads: one reads it, the others wait for the result
                if not self._loaded:
                    self._key = self._read()
                    self._loaded = True
        return self._key

    def _read(self) -> bytes | None:
        directory = os.path.dirname(self.path)
        if os.path.islink(directory):
            return self._unusable("the store's directory is a symbolic link")
        try:
            fd = _open_key(self.path)
        except FileNotFoundError:
            try:
                os.makedirs(directory, exist_ok=True)
                tmp = os.path.join(directory, ".tmp-" + secrets.token_hex(8))
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
                with os.fdopen(os.open(tmp, flags, 0o666), "wb") as f:
                    f.write(secrets.token_bytes(_KEY_SIZE))
                try:
                    with contextlib.suppress(FileExistsError):
                        os.link(tmp, self.path)  # first writer wins; all read the same key
                finally:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                fd = _open_key(self.path)
            except OSError as exc:  # a store we can't write: nothing credentialed is in it
                logger.debug("pip-ff: no store key: %s", exc)
                return None
        except OSError as exc:
            return self._unusable(exc.strerror or str(exc))
        with os.fdopen(fd, "rb") as f:
            key = f.read(_KEY_SIZE + 1)
        if len(key) != _KEY_SIZE:
            return self._unusable(f"{len(key)} bytes, not {_KEY_SIZE}")
        return key

    def _unusable(self, why: str) -> bytes | None:  # one warning: the key is read once
        logger.warning(
            "pip-ff: the store key %s is unusable (%s); answers fetched with credentials are "
            "neither recorded nor served (remove it and pip-ff makes a new one)",
            self.path,
            why,
        )
        return None
