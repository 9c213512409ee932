"""pip-ff's record of what it received online: index pages and files, with the time they came.

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
contradicts the sha256 its index page lists (:meth:`Store.expect`) is never recorded, while a
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
- ``prune`` (in :mod:`pip_offline_fallback.inventory`) holds the lock for its whole run, so it
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
so until :meth:`Store.resume_recording` (a long-running serve calls it).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from pip_offline_fallback import oslock
from pip_offline_fallback.committer import Committer
from pip_offline_fallback.compat.vendored import canonicalize_name
from pip_offline_fallback.errors import PipFFError
from pip_offline_fallback.hashing import copy_with_hashing
from pip_offline_fallback.recorder import Recorder, unlink_quietly
from pip_offline_fallback.storekey import NO_KEY, StoreKey
from pip_offline_fallback.urls import distribution_of, host_of, is_distribution_url, url_key

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

LAYOUT = "v1"
# Response headers worth replaying; hop-by-hop and per-client ones (cookies) are never kept.
_KEPT_HEADERS = ("content-type", "content-encoding", "etag", "last-modified", "date")
# A recorder waits this long for the lock before it gives up recording (the install goes on).
COMMIT_LOCK_TIMEOUT = 1.0
_TEMP_PREFIX = "rec-"
# A temporary file untouched for this long belongs to no live writer (it would keep writing):
# one a killed process left, cleared by prune and by the next process that records.
STALE_TEMP_SECONDS = 3600.0
_ENTRY_TEMP_PREFIX = ".tmp-"

# Flags that make open() refuse a symlink and not block on a planted FIFO (where the OS has them).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def entry_file_name(url: str, identity: str | None) -> str:
    """The name of the entry of ``url`` recorded with ``identity`` (None: anonymous)."""
    key = _digest(url_key(url))
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


def _open_regular(path: str) -> int:
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
    with os.fdopen(_open_regular(path), "rb") as f:
        return copy_with_hashing(f)[0]


def _create_exclusive(directory: str, prefix: str) -> tuple[int, str]:
    """A new file of our own in ``directory``; mode 0666 minus the umask, so the store can be
    shared by whoever shares the cache directory (mkstemp would make it private to us)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
    while True:
        path = os.path.join(directory, prefix + secrets.token_hex(8))
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue


class Store:
    def __init__(self, root: str, *, write_behind: bool = False) -> None:
        """``write_behind``: bodies are filed on a thread of their own (:mod:`.committer`)."""
        self.root = root
        self._committer = Committer() if write_behind else None
        self._base = os.path.join(root, LAYOUT)
        self.lock_path = os.path.join(self._base, "lock")
        self._recording = True
        # URLs whose recorded copy failed verification in this process (``store check`` tells).
        self.damaged: list[str] = []
        self._hosts: dict[str, bool] = {}
        self._keys = StoreKey(os.path.join(self._base, "key"))
        # What the index pages seen in this process list: URL key -> sha256s (see expect()).
        self._expected: dict[str, set[str]] = {}
        self._base_usable: bool | None = None
        self._write_failed = False  # said once (see recorder())
        self._swept = False  # stale temporary files cleared (see recorder())
        self._memo_lock = threading.Lock()  # _hosts (see the module's docstring)
        # Directories this process made or found (checked: no links), so that a commit costs no
        # mkdir and lstat per level. Nothing removes them (prune leaves directories); a store
        # deleted meanwhile costs one commit's retry (see _retrying).
        self._made: set[tuple[str, ...]] = set()

    def settled(self) -> None:
        """Wait until no body is being filed (write-behind): what follows reads the store."""
        if self._committer is not None:
            self._committer.wait()

    def file_in_place(self) -> None:
        """No write-behind from now on (serve: what it has answered is in the record)."""
        self.settled()
        self._committer = None

    def file_later(self, job: Callable[[], None]) -> None:
        """Run ``job`` (a body's filing) on the write-behind thread, or now without one."""
        if self._committer is not None:
            self._committer.submit(job)
        else:
            job()

    def usable(self) -> bool:
        """Whether ``v1`` is not a symbolic link and the store can be read (checked once per
        process, one warning): a link there is never followed, to read or to write (see the
        module's docstring), and a store pip-ff can't read must not look empty."""
        if self._base_usable is None:
            unreadable = self.unreadable()
            self._base_usable = unreadable is None and not os.path.islink(self._base)
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
                    self._base,
                )
        return self._base_usable

    def unreadable(self) -> str | None:
        """Why the store's directory can't be read (not a directory, no permission), or None;
        a store that doesn't exist yet is fine (the first write makes it)."""
        for path in (self.root, self._base):
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

    def _entry_path(self, url: str, identity: str | None = None) -> str:
        name = entry_file_name(url, identity)
        return os.path.join(self._base, "entries", name[:2], name)

    def _identity_paths(self, url: str) -> list[str]:
        """The entries of ``url`` recorded with credentials, whoever's (one scan of a shard)."""
        prefix = _digest(url_key(url)) + "-"
        shard = os.path.dirname(self._entry_path(url))
        try:
            with os.scandir(shard) as it:
                return sorted(
                    d.path for d in it if d.name.startswith(prefix) and d.name.endswith(".json")
                )
        except OSError:
            return []

    def blob_path(self, sha256: str) -> str:
        return os.path.join(self._base, "blobs", sha256[:2], sha256)

    def _host_path(self, url: str) -> str:
        return os.path.join(self._base, "hosts", _digest(host_of(url)))

    # -- reading (no lock) -------------------------------------------------------------------

    def has(self, url: str) -> bool:
        self.settled()
        if not self.usable():
            return False
        try:
            return stat.S_ISREG(os.lstat(self._entry_path(url)).st_mode)
        except OSError:
            return bool(self._identity_paths(url))

    def knows_host_of(self, url: str) -> bool:
        """Whether anything was ever recorded from the host of ``url`` (one lstat per host)."""
        self.settled()
        key = host_of(url)
        known = self._hosts.get(key)
        if known is None and not self.usable():
            known = False
        if known is None:
            try:
                known = stat.S_ISREG(os.lstat(self._host_path(url)).st_mode)
            except OSError:
                known = False
            with self._memo_lock:
                self._hosts[key] = known
        return known

    def identity(self, authorization: str | None) -> str | None:
        """The keyed digest that stands for a request's credentials (None: it had none;
        :data:`~.storekey.NO_KEY`: there is no usable key, so nothing credentialed is
        recorded or served)."""
        if authorization and not self.usable():
            return NO_KEY
        return self._keys.identity(authorization)

    def expect(self, url: str, sha256: str) -> None:
        """An index page lists ``sha256`` for the file at ``url`` (learnt in this process)."""
        self._expected.setdefault(url_key(url), set()).add(sha256.lower())

    def _against_page(self, url: str, sha256: str) -> bool | None:
        """Whether ``sha256`` matches what index pages list for ``url`` (None: none lists it)."""
        listed = self._expected.get(url_key(url))
        return (sha256 in listed) if listed else None

    def lookup(self, url: str, identity: str | None = None) -> Entry | None:
        """The entry of ``url``; one recorded with credentials only for the same ``identity``."""
        self.settled()
        if identity is not None and identity != NO_KEY:
            own = self._any_entry(url, identity)
            if own is not None and own.identity and hmac.compare_digest(own.identity, identity):
                return own  # this identity's own entry first
        entry = self._any_entry(url)
        if entry is None:
            return None
        if entry.identity is not None and not (
            identity is not None
            and identity != NO_KEY
            and hmac.compare_digest(entry.identity, identity)
        ):
            return None  # fetched with credentials: another user's data, unless they match
        return entry

    def _any_entry(self, url: str, identity: str | None = None) -> Entry | None:
        """The entry of ``url`` in the file of ``identity`` (None: the anonymous file, which an
        older record may have filed a credentialed entry in), or None."""
        if not self.usable():
            return None
        return self._entry_at(self._entry_path(url, identity), url)

    def _entries_of_url(self, url: str) -> list[Entry]:
        """Every entry of ``url``, whoever recorded it."""
        if not self.usable():
            return []
        paths = [self._entry_path(url), *self._identity_paths(url)]
        return [e for e in (self._entry_at(path, url) for path in paths) if e is not None]

    def _entry_at(self, path: str, url: str) -> Entry | None:
        try:
            entry = self._read_entry(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.debug("pip-ff: skipping unreadable store entry %s: %s", path, exc)
            return None
        if entry.url != url_key(url):
            return None  # a hash collision or a planted file: never serve another URL's data
        return entry

    def _read_entry(self, path: str) -> Entry:
        with os.fdopen(_open_regular(path), encoding="utf-8") as f:
            data = json.load(f)
        sha256 = str(data["sha256"])
        if not _is_sha256(sha256):
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

    def open_verified(self, entry: Entry) -> IO[bytes] | None:
        """The entry's body, after checking every byte against the recorded sha256 (and that
        sha256 against the one its index page lists, where one was seen)."""
        if self._against_page(entry.url, entry.sha256) is False:
            self.damaged.append(entry.url)
            logger.warning(
                "pip-ff: the recorded copy of %s contradicts the hash its index page lists; "
                "not using it",
                entry.url,
            )
            return None
        try:
            f = os.fdopen(_open_regular(entry.blob), "rb")
        except PermissionError as exc:  # a shared store another user made unreadable to us
            logger.warning("pip-ff: can't read the recorded copy of %s: %s", entry.url, exc)
            return None
        except OSError:
            return None
        try:
            sha256, size = copy_with_hashing(f)
            if sha256 == entry.sha256 and size == entry.size:
                f.seek(0)
                return f
        except OSError as exc:
            logger.debug("pip-ff: could not read %s: %s", entry.blob, exc)
        f.close()
        self.damaged.append(entry.url)
        logger.warning(
            "pip-ff: the recorded copy of %s is damaged (hash mismatch); not using it", entry.url
        )
        return None

    # -- writing -----------------------------------------------------------------------------

    def _directory(self, *parts: str) -> str:
        """``v1/<parts>``, created as needed, refusing any symlink on the way from the root.

        The root itself may be a link (the user's choice); below it, a link would let whoever
        planted it redirect our writes elsewhere.
        """
        if parts in self._made:
            return os.path.join(self._base, *parts)
        path = self._base
        for part in ("", *parts):
            path = os.path.join(path, part) if part else path
            try:
                os.mkdir(path)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    raise OSError(errno.ENOTDIR, "not a directory (a link?)", path) from None
            except FileNotFoundError:
                os.makedirs(path, exist_ok=True)  # the root itself is missing
        with self._memo_lock:
            self._made.add(parts)
        return path

    def _retrying(self, write: Callable[[], _T]) -> _T:
        """``write``, once more with no directory taken for granted if one was gone."""
        try:
            return write()
        except FileNotFoundError:
            with self._memo_lock:
                self._made.clear()
            return write()

    def resume_recording(self) -> None:
        """Record again after the store was found busy (a prune held it): a command gives up for
        its run; a server that runs for days asks again later."""
        self._recording = True

    def tmp_directory(self) -> str:
        """Where files are made before they are renamed into the store (the same file system)."""
        return self._directory("tmp")

    def _clear_stale_temps(self) -> None:
        """Remove the bodies a killed process left half-received in ``v1/tmp`` (once per
        process, when it first records): only files untouched for STALE_TEMP_SECONDS, never a
        live writer's."""
        cutoff = time.time() - STALE_TEMP_SECONDS
        try:
            with os.scandir(self.tmp_directory()) as it:
                stale = [
                    d.path
                    for d in it
                    if d.name.startswith(_TEMP_PREFIX)
                    and d.is_file(follow_symlinks=False)
                    and d.stat(follow_symlinks=False).st_mtime < cutoff
                ]
        except OSError as exc:
            logger.debug("pip-ff: not clearing temporary files: %s", exc)
            return
        for path in stale:
            unlink_quietly(path)
        if stale:
            logger.debug("pip-ff: removed %d stale temporary file(s) from the store", len(stale))

    def recorder(
        self, url: str, headers: Mapping[str, str], identity: str | None = None
    ) -> Recorder | None:
        """A sink for a body being received online; None when the store can't be written, or
        when the body came with credentials and there is no usable key."""
        if not self._recording or identity == NO_KEY or not self.usable():
            return None
        self.settled()  # at most one body waits to be filed
        try:
            fd, tmp = self._retrying(lambda: _create_exclusive(self.tmp_directory(), _TEMP_PREFIX))
        except OSError as exc:
            if not self._write_failed:  # once: a store we can't write records nothing
                self._write_failed = True
                logger.warning("pip-ff: can't record into the store %s: %s", self.root, exc)
            logger.debug("pip-ff: not recording %s: %s", url_key(url), exc)
            return None
        if not self._swept:
            self._swept = True
            self._clear_stale_temps()
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
        return Recorder(self, url, kept, os.fdopen(fd, "wb"), tmp, identity)

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        """The store lock; raises :class:`StoreBusy` after ``timeout`` seconds (< 0: forever)."""
        self.settled()  # (not on the write-behind thread itself, which files under it)
        self._directory()
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.lstat(self.lock_path).st_mode):
                os.unlink(self.lock_path)  # a planted link: remove it, never open its target
        try:
            with oslock.exclusive(self.lock_path, timeout):
                yield
        except oslock.LockTimeout:
            raise StoreBusy(f"{self.lock_path} is held by another process") from None

    def commit_body(
        self,
        url: str,
        headers: Mapping[str, str],
        tmp: str,
        sha256: str,
        size: int,
        identity: str | None = None,
    ) -> bool:
        """File a received body; False when it was not filed (the store is busy, or it would
        replace a distribution file recorded with other bytes)."""
        if self._recording:

            def commit() -> bool:
                with self.lock(COMMIT_LOCK_TIMEOUT):
                    if identity == NO_KEY or self._refused(url, sha256):
                        unlink_quietly(tmp)
                        return False
                    self._commit_locked(url, headers, tmp, sha256, size, identity)
                return True

            try:
                return self._retrying(commit)
            except StoreBusy:
                # Someone holds the store for longer than an install should wait (a prune):
                # this run records nothing more, and never waits on the store again.
                self._recording = False
                logger.debug("pip-ff: the store is busy; not recording for the rest of this run")
        unlink_quietly(tmp)
        logger.debug("pip-ff: not recording %s: the store is busy", url_key(url))
        return False

    def alias(self, url: str, target: str, identity: str | None = None) -> bool:
        """File the recorded body of ``target`` (recorded with ``identity``) under ``url`` too
        (a link that redirected there: a CDN, a pre-signed URL), so that the link resolves
        offline to the same verified body."""
        self.settled()
        entry = None
        with contextlib.suppress(OSError):
            data = self._read_entry(self._entry_path(target, identity))
            entry = data if data.url == url_key(target) and data.identity == identity else None
        if entry is None or not self._recording:
            return False
        found: Entry = entry

        def file_it() -> bool:
            with self.lock(COMMIT_LOCK_TIMEOUT):
                # The body answered for ``url``: it must be able to be ``url``'s answer.
                if self._refused(url, found.sha256):
                    return False
                self._write_entry(url, found.headers, found.sha256, found.size, found.identity)
            return True

        try:
            if not self._retrying(file_it):
                return False
        except (StoreBusy, OSError) as exc:
            logger.debug("pip-ff: not recording %s: %s", url_key(url), exc)
            return False
        return True

    def _refused(self, url: str, sha256: str) -> bool:
        """Whether filing ``sha256`` as ``url``'s answer would record what can't be it (says
        why, once). Under the lock: what is recorded can't change meanwhile."""
        matches = self._against_page(url, sha256)
        if matches is False:
            logger.warning(
                "pip-ff: %s came with bytes that contradict the hash its index page lists; "
                "not recording them",
                url_key(url),
            )
            return True
        # A file's bytes never change on an index: other bytes under the same URL are a
        # portal's or an attacker's, and never replace good data, whoever recorded it (an
        # anonymous fetch never replaces a credentialed record). Only a copy that matches the
        # page's hash replaces one (which then can't have matched it).
        if (
            not matches
            and is_distribution_url(url)
            and any(_other_bytes(e, sha256) for e in self._entries_of_url(url))
        ):
            logger.warning(
                "pip-ff: %s came with other bytes than recorded before; keeping the recorded copy",
                url_key(url),
            )
            return True
        return False

    def _commit_locked(
        self,
        url: str,
        headers: Mapping[str, str],
        tmp: str,
        sha256: str,
        size: int,
        identity: str | None = None,
    ) -> None:
        # The blob first: an entry must never name a blob that isn't there. A blob that already
        # holds these bytes stays (a rename over it costs a flush of the new copy, and would
        # undo its sharing with pip's cache); a damaged one is replaced, which heals it.
        blob = os.path.join(self._directory("blobs", sha256[:2]), sha256)
        if _holds(blob, sha256, size):
            unlink_quietly(tmp)
        else:
            try:
                os.replace(tmp, blob)
            except PermissionError:  # Windows: a reader has it open; it holds the same bytes
                if not os.path.isfile(blob):
                    raise
                unlink_quietly(tmp)
        self._write_entry(url, headers, sha256, size, identity)

    def _write_entry(
        self, url: str, headers: Mapping[str, str], sha256: str, size: int, identity: str | None
    ) -> None:
        entry: dict[str, Any] = {
            "url": url_key(url),
            "fetched": time.time(),
            "sha256": sha256,
            "size": size,
            "headers": dict(headers),
        }
        if identity is not None:
            entry["identity"] = identity
        name = entry_file_name(url, identity)
        directory = self._directory("entries", name[:2])
        if identity is None:
            self._move_credentialed(url)
        fd, tmp_entry = _create_exclusive(directory, _ENTRY_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entry, f)
            os.replace(tmp_entry, os.path.join(directory, name))
        except BaseException:
            unlink_quietly(tmp_entry)
            raise
        if not self._hosts.get(host_of(url)):
            # A marker per host: a later run knows this host has local answers before asking it
            # for anything, even a page that was never recorded (one that was not found, say).
            marker = self._host_path(url)
            self._directory("hosts")
            with contextlib.suppress(FileExistsError):
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666))
            with self._memo_lock:
                self._hosts[host_of(url)] = True

    def _move_credentialed(self, url: str) -> None:
        """Before an anonymous entry is written: a credentialed entry an older record filed in
        the anonymous file moves to its own (under the lock), so it is never replaced."""
        legacy = self._any_entry(url)
        if legacy is None or legacy.identity is None:
            return
        own = self._entry_path(url, legacy.identity)
        if os.path.lexists(own):
            return  # a newer entry of that identity exists: the legacy one is replaced
        with contextlib.suppress(OSError):
            os.replace(self._entry_path(url), own)

    # -- enumeration (no lock) ---------------------------------------------------------------

    def entries(self) -> Iterator[Entry]:
        """Every readable entry, in no particular order (a scan of the entries directory).

        An entry being written appears whole or not at all; unreadable files, links and files
        whose name is not their URL's digest are skipped (``store info`` reports those).
        """
        self.settled()
        if not self.usable():
            return
        top = os.path.join(self._base, "entries")
        try:
            shards = sorted(os.scandir(top), key=lambda d: d.name)
        except OSError:
            return
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False):
                continue
            try:
                names = sorted(d.name for d in os.scandir(shard.path))
            except OSError:
                continue
            for name in names:
                if not name.endswith(".json") or name.startswith(_ENTRY_TEMP_PREFIX):
                    continue
                try:
                    entry = self._read_entry(os.path.join(shard.path, name))
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                if filed_under(name, entry):
                    yield entry

    def projects(self) -> list[str]:
        """The normalized names of the projects the record holds distribution files of."""
        names: set[str] = set()
        for entry in self.entries():
            parsed = distribution_of(entry.url)
            if parsed is not None:
                names.add(parsed[0])
        return sorted(names)

    def entries_of(self, project: str) -> Iterator[Entry]:
        """The entries of one project: its distribution files and their metadata files
        (recognised by file name, whatever index they came from)."""
        wanted = canonicalize_name(project)
        for entry in self.entries():
            parsed = distribution_of(entry.url)
            if parsed is not None and parsed[0] == wanted:
                yield entry


def _holds(blob: str, sha256: str, size: int) -> bool:
    """Whether ``blob`` is a regular file of exactly ``size`` bytes whose sha256 is ``sha256``."""
    try:
        return os.lstat(blob).st_size == size and sha256_of_file(blob) == sha256
    except OSError:
        return False


def _other_bytes(recorded: Entry | None, sha256: str) -> bool:
    """Whether filing ``sha256`` would replace the other bytes of ``recorded``."""
    return recorded is not None and recorded.sha256 != sha256


def body_headers(entry_headers: Mapping[str, str], size: int) -> dict[str, Any]:
    headers: dict[str, Any] = dict(entry_headers)
    headers["content-length"] = str(size)
    return headers
