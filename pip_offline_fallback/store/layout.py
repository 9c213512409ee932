"""The store's layout on disk: where each file of pip-ff's record is, and how it is opened.

The record holds what pip-ff received online: index pages and files, with the time they came.

Layout under the store root (``<pip cache dir>/pip-ff`` by default)::

    v1/entries/<k[:2]>/<k>.json   k = sha256 of the URL (no fragment, no credentials)
    v1/entries/<k[:2]>/<k>-<i>.json   the same URL fetched with credentials, i = the first 16
                                  digits of the entry's identity: each identity has its own
                                  entry, so an anonymous answer never replaces one fetched with
                                  credentials (nor the reverse)
    v1/blobs/<s[:2]>/<s>          s = sha256 of the body, as received
    v1/tmp/rec-*                  bodies being received (one a killed process left is removed
                                  by the next process that records, once it is an hour old)
    v1/lock                       the store lock (see below)
    v1/key                        a random key: an entry recorded with credentials carries
                                  HMAC(key, Authorization header), never the credentials, and
                                  is served only to a request with the same credentials
                                  (:mod:`.storekey`; no usable key: nothing credentialed is
                                  recorded or served)

No path replaces a recorded answer with something that can't be what was asked for: a
distribution file's bytes never change (other bytes under its URL, or under the URL it
redirected to, are a portal's or an attacker's), whoever recorded it; and a body that
contradicts the sha256 its index page lists (:meth:`.Store.expect`) is never recorded, while a
recorded copy that contradicts it gives way to one that matches it.

Safe to share between any number of processes:

- Every file is written to a temporary name and renamed, so nobody ever sees a partial entry or
  blob; a blob whose bytes no longer match its name is never served.
- Reading takes no lock. A lookup is one ``open`` and one small read, whatever the size of the
  store; the body is verified against its sha256 before it is served.
- Writers take the store lock only for the commit of one body (blob, then entry: an entry never
  names a blob that isn't there yet), with a short timeout. A command files its bodies on a
  thread of its own (``write_behind``, :mod:`.committer`), at most one waiting: a process killed
  outright loses at most that one, and nothing is ever fsynced (a cache, like pip's own). A
  recorder that can't have the lock in time gives up recording for the rest of its run: the
  install never waits on the store.
- ``prune`` (:mod:`.prune`) holds the lock for its whole run, so it
  sees no commit half-done. The lock is an OS lock (:mod:`.oslock`): a process killed while holding
  it releases it.
- Symbolic links planted in the store are never followed: an entry or blob that is a link is
  never read, a link where a directory should be makes the recorder step aside rather than write
  through it (``v1`` itself a link: nothing is recorded or served, with one warning), and prune
  removes links themselves, never their targets. (A lookup does not check
  every directory on its path, which would cost a stat each; what it reads must still name the
  URL asked for and match its sha256.)

Thread safety (serve answers on many threads with one Store): reads share nothing; the per-host
memo and the identity key are filled under a lock; ``damaged`` is only appended to (atomic);
commits serialise on the store lock (an OS lock on a file each commit opens anew, so it is
exclusive between threads as between processes). A store that gave up recording (busy) stays
so until :meth:`.Store.resume_recording` (a long-running serve calls it).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pip_offline_fallback.errors import PipFFError
from pip_offline_fallback.hashing import copy_with_hashing
from pip_offline_fallback.urls import host_of, url_key

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

LAYOUT = "v1"

# A temporary file untouched for this long belongs to no live writer (it would keep writing):
# one a killed process left, cleared by prune and by the next process that records.
STALE_TEMP_SECONDS = 3600.0
ENTRY_TEMP_PREFIX = ".tmp-"

# Flags that make open() refuse a symlink and not block on a planted FIFO (where the OS has them).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def digest(text: str) -> str:
    """The hex sha256 of ``text``: what entry files and host markers are named by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def entry_file_name(url: str, identity: str | None) -> str:
    """The name of the entry of ``url`` recorded with ``identity`` (None: anonymous)."""
    key = digest(url_key(url))
    return f"{key}-{identity[:16]}.json" if identity else f"{key}.json"


def filed_under(name: str, entry: Entry) -> bool:
    """Whether an entry file named ``name`` may hold ``entry``: its own name, or (records made
    before each identity had its own entry) the anonymous name for a credentialed entry."""
    return name in (entry_file_name(entry.url, entry.identity), entry_file_name(entry.url, None))


class StoreBusy(PipFFError):
    """Another process holds the store lock (a prune, usually) for longer than we would wait."""


@dataclass(frozen=True)
class Entry:
    url: str
    fetched: float
    sha256: str
    size: int
    headers: Mapping[str, str]
    blob: str
    identity: str | None = None  # keyed digest of the credentials it was fetched with

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.fetched)


def open_regular(path: str) -> int:
    """A read-only descriptor of a regular file; never through a symlink, never blocking."""
    if not _NOFOLLOW and os.path.islink(path):  # no O_NOFOLLOW (Windows): the next best check
        raise OSError(errno.ELOOP, "is a symbolic link", path)
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def sha256_of_file(path: str) -> str:
    """The sha256 of a regular file's bytes; OSError for anything else (a link, a directory)."""
    with os.fdopen(open_regular(path), "rb") as f:
        return copy_with_hashing(f)[0]


def create_exclusive(directory: str, prefix: str) -> tuple[int, str]:
    """A new file of our own in ``directory``; mode 0666 minus the umask, so the store can be
    shared by whoever shares the cache directory (mkstemp would make it private to us)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
    while True:
        path = os.path.join(directory, prefix + secrets.token_hex(8))
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue


class Layout:
    """The paths of one store's files, its directories made as needed (never through a link),
    and its entry files read."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.base = os.path.join(root, LAYOUT)
        self.lock_path = os.path.join(self.base, "lock")
        self._base_usable: bool | None = None
        self.memo_lock = threading.Lock()  # the memos of this object (see the module's docstring)
        # Directories this process made or found (checked: no links), so that a commit costs no
        # mkdir and lstat per level. Nothing removes them (prune leaves directories); a store
        # deleted meanwhile costs one commit's retry (see retrying).
        self._made: set[tuple[str, ...]] = set()

    def usable(self) -> bool:
        """Whether ``v1`` is not a symbolic link and the store can be read (checked once per
        process, one warning): a link there is never followed, to read or to write (see the
        module's docstring), and a store pip-ff can't read must not look empty."""
        if self._base_usable is None:
            unreadable = self.unreadable()
            self._base_usable = unreadable is None and not os.path.islink(self.base)
            if unreadable is not None:
                logger.warning(
                    "pip-ff: can't use the store %s (%s); nothing is recorded into it or "
                    "answered from it",
                    self.root,
                    unreadable,
                )
            elif not self._base_usable:
                logger.warning(
                    "pip-ff: %s is a symbolic link; pip-ff neither records into it nor answers "
                    "from it (point PIPFF_STORE at its target, or remove it: `pip-ff store "
                    "prune`)",
                    self.base,
                )
        return self._base_usable

    def unreadable(self) -> str | None:
        """Why the store's directory can't be read (not a directory, no permission), or None;
        a store that doesn't exist yet is fine (the first write makes it)."""
        for path in (self.root, self.base):
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                return None
            except OSError as exc:
                return exc.strerror or type(exc).__name__
            if not stat.S_ISDIR(mode):
                return f"{path} is not a directory"
            if not os.access(path, os.R_OK | os.X_OK):
                return f"{path}: permission denied"
        return None

    def entry_path(self, url: str, identity: str | None = None) -> str:
        name = entry_file_name(url, identity)
        return os.path.join(self.base, "entries", name[:2], name)

    def identity_paths(self, url: str) -> list[str]:
        """The entries of ``url`` recorded with credentials, whoever's (one scan of a shard)."""
        prefix = digest(url_key(url)) + "-"
        shard = os.path.dirname(self.entry_path(url))
        try:
            with os.scandir(shard) as it:
                return sorted(
                    d.path for d in it if d.name.startswith(prefix) and d.name.endswith(".json")
                )
        except OSError:
            return []

    def blob_path(self, sha256: str) -> str:
        return os.path.join(self.base, "blobs", sha256[:2], sha256)

    def host_path(self, url: str) -> str:
        return os.path.join(self.base, "hosts", digest(host_of(url)))

    def mark_host(self, url: str) -> None:
        """Leave the marker of the host of ``url`` (see :meth:`.Reader.knows_host_of`)."""
        marker = self.host_path(url)
        self.directory("hosts")
        with contextlib.suppress(FileExistsError):
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666))

    def read_entry(self, path: str) -> Entry:
        """The entry in the file at ``path`` (never through a link); OSError, ValueError,
        KeyError or TypeError for a file that isn't one."""
        # Bytes to json.loads (UTF-8 is JSON's encoding): a text wrapper and its decoder cost
        # more than the read of a small entry, and one is read per local answer.
        with os.fdopen(open_regular(path), "rb") as f:
            data = json.loads(f.read())
        sha256 = str(data["sha256"])
        if not is_sha256(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return Entry(
            url=str(data["url"]),
            fetched=float(data["fetched"]),
            sha256=sha256,
            size=int(data["size"]),
            headers={str(k): str(v) for k, v in dict(data["headers"]).items()},
            blob=self.blob_path(sha256),
            identity=str(data["identity"]) if data.get("identity") else None,
        )

    def directory(self, *parts: str) -> str:
        """``v1/<parts>``, created as needed, refusing any symlink on the way from the root.

        The root itself may be a link (the user's choice); below it, a link would let whoever
        planted it redirect our writes elsewhere.
        """
        if parts in self._made:
            return os.path.join(self.base, *parts)
        path = self.base
        for depth, part in enumerate(("", *parts)):
            path = os.path.join(path, part) if part else path
            if parts[:depth] in self._made:
                continue  # this level was checked already (``entries`` for ``entries/ab``)
            # lstat first: most levels exist, and an mkdir that fails with EEXIST costs a
            # directory write lock (about 0.3 ms here, against a few microseconds).
            try:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    raise OSError(errno.ENOTDIR, "not a directory (a link?)", path)
                continue
            except FileNotFoundError:
                pass
            try:
                os.mkdir(path)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    raise OSError(errno.ENOTDIR, "not a directory (a link?)", path) from None
            except FileNotFoundError:
                os.makedirs(path, exist_ok=True)  # the root itself is missing
        with self.memo_lock:
            self._made.update(parts[:depth] for depth in range(len(parts) + 1))
        return path

    def retrying(self, write: Callable[[], _T]) -> _T:
        """``write``, once more with no directory taken for granted if one was gone."""
        try:
            return write()
        except FileNotFoundError:
            with self.memo_lock:
                self._made.clear()
            return write()

    def tmp_directory(self) -> str:
        """Where files are made before they are renamed into the store (the same file system)."""
        return self.directory("tmp")
