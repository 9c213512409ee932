"""Reading the store, with no lock: lookups, the host markers, and a body verified against its
sha256 (and its index page's) before it is used. A lookup is one ``open`` and one small read,
whatever the size of the store (see :mod:`.layout`)."""

from __future__ import annotations

import hmac
import logging
import os
import stat
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from pip_offline_fallback.compat.vendored import canonicalize_name
from pip_offline_fallback.hashing import copy_with_hashing
from pip_offline_fallback.store.layout import (
    ENTRY_TEMP_PREFIX,
    Entry,
    Layout,
    filed_under,
    open_regular,
)
from pip_offline_fallback.storekey import NO_KEY, StoreKey
from pip_offline_fallback.urls import distribution_of, host_of, url_key

if TYPE_CHECKING:
    from pip_offline_fallback.store.committer import Committer

logger = logging.getLogger(__name__)
_VERIFIED_MEMO = 4096  # blobs remembered as verified (a bound for a serve that runs for days)


class Reader(Layout):
    """What the store answers; :class:`~.writing.Store` adds what it records."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        # Bodies being filed on a thread of their own (write-behind; see settled()).
        self.committer: Committer | None = None
        # URLs whose recorded copy failed verification in this process (``store check`` tells).
        self.damaged: list[str] = []
        # Blobs whose every byte was checked, by (path, inode, size, mtime): a blob is renamed
        # into place whole and never written again, so an unchanged stat is the same bytes. A
        # long-running serve then hashes a file once, not on every offline page that lists it.
        self._verified: dict[tuple[str, int, int, int], str] = {}
        self._hosts: dict[str, bool] = {}  # filled under memo_lock
        self._keys = StoreKey(os.path.join(self.base, "key"))
        # What the index pages seen in this process list: URL key -> sha256s (see expect()).
        self._expected: dict[str, set[str]] = {}

    def settled(self) -> None:
        """Wait until no body is being filed (write-behind): what follows reads the store."""
        if self.committer is not None:
            self.committer.wait()

    def has(self, url: str) -> bool:
        self.settled()
        if not self.usable():
            return False
        try:
            return stat.S_ISREG(os.lstat(self.entry_path(url)).st_mode)
        except OSError:
            return bool(self.identity_paths(url))

    def knows_host_of(self, url: str) -> bool:
        """Whether anything was ever recorded from the host of ``url`` (one lstat per host)."""
        self.settled()
        key = host_of(url)
        known = self._hosts.get(key)
        if known is None and not self.usable():
            known = False
        if known is None:
            try:
                known = stat.S_ISREG(os.lstat(self.host_path(url)).st_mode)
            except OSError:
                known = False
            with self.memo_lock:
                self._hosts[key] = known
        return known

    def note_host(self, url: str) -> None:
        """Something from the host of ``url`` was recorded (its marker, once per process)."""
        if not self._hosts.get(host_of(url)):
            # A marker per host: a later run knows this host has local answers before asking it
            # for anything, even a page that was never recorded (one that was not found, say).
            self.mark_host(url)
            with self.memo_lock:
                self._hosts[host_of(url)] = True

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

    def against_page(self, url: str, sha256: str) -> bool | None:
        """Whether ``sha256`` matches what index pages list for ``url`` (None: none lists it)."""
        listed = self._expected.get(url_key(url))
        return (sha256 in listed) if listed else None

    def lookup(self, url: str, identity: str | None = None) -> Entry | None:
        """The entry of ``url``; one recorded with credentials only for the same ``identity``."""
        self.settled()
        if identity is not None and identity != NO_KEY:
            own = self.any_entry(url, identity)
            if own is not None and own.identity and hmac.compare_digest(own.identity, identity):
                return own  # this identity's own entry first
        entry = self.any_entry(url)
        if entry is None:
            return None
        if entry.identity is not None and not (
            identity is not None
            and identity != NO_KEY
            and hmac.compare_digest(entry.identity, identity)
        ):
            return None  # fetched with credentials: another user's data, unless they match
        return entry

    def any_entry(self, url: str, identity: str | None = None) -> Entry | None:
        """The entry of ``url`` in the file of ``identity`` (None: the anonymous file, which an
        older record may have filed a credentialed entry in), or None."""
        if not self.usable():
            return None
        return self._entry_at(self.entry_path(url, identity), url)

    def entries_of_url(self, url: str) -> list[Entry]:
        """Every entry of ``url``, whoever recorded it."""
        if not self.usable():
            return []
        paths = [self.entry_path(url), *self.identity_paths(url)]
        return [e for e in (self._entry_at(path, url) for path in paths) if e is not None]

    def _entry_at(self, path: str, url: str) -> Entry | None:
        try:
            entry = self.read_entry(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.debug("pip-ff: skipping unreadable store entry %s: %s", path, exc)
            return None
        if entry.url != url_key(url):
            return None  # a hash collision or a planted file: never serve another URL's data
        return entry

    def open_verified(self, entry: Entry) -> IO[bytes] | None:
        """The entry's body, after checking every byte against the recorded sha256 (and that
        sha256 against the one its index page lists, where one was seen)."""
        if self.against_page(entry.url, entry.sha256) is False:
            self.damaged.append(entry.url)
            logger.warning(
                "pip-ff: the recorded copy of %s contradicts the hash its index page lists; "
                "not using it",
                entry.url,
            )
            return None
        try:
            f = os.fdopen(open_regular(entry.blob), "rb")
        except PermissionError as exc:  # a shared store another user made unreadable to us
            logger.warning("pip-ff: can't read the recorded copy of %s: %s", entry.url, exc)
            return None
        except OSError:
            return None
        try:
            st = os.fstat(f.fileno())
            seen = (entry.blob, st.st_ino, st.st_size, st.st_mtime_ns)
            if self._verified.get(seen) == entry.sha256 and st.st_size == entry.size:
                return f
            sha256, size = copy_with_hashing(f)
            if sha256 == entry.sha256 and size == entry.size:
                if len(self._verified) >= _VERIFIED_MEMO:
                    self._verified.clear()
                self._verified[seen] = sha256
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

    # -- enumeration (no lock) ---------------------------------------------------------------

    def entries(self) -> Iterator[Entry]:
        """Every readable entry, in no particular order (a scan of the entries directory).

        An entry being written appears whole or not at all; unreadable files, links and files
        whose name is not their URL's digest are skipped (``store info`` reports those).
        """
        self.settled()
        if not self.usable():
            return
        top = os.path.join(self.base, "entries")
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
                if not name.endswith(".json") or name.startswith(ENTRY_TEMP_PREFIX):
                    continue
                try:
                    entry = self.read_entry(os.path.join(shard.path, name))
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


def body_headers(entry_headers: Mapping[str, str], size: int) -> dict[str, Any]:
    headers: dict[str, Any] = dict(entry_headers)
    headers["content-length"] = str(size)
    return headers
