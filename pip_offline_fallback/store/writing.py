"""Writing the store: a body received online is filed (blob, then entry) under the store lock,
on the write-behind thread when there is one (:mod:`.committer`), through a :mod:`.recorder`;
nothing is filed that can't be what was asked for (see :mod:`.layout`)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pip_offline_fallback import oslock
from pip_offline_fallback.store.committer import Committer
from pip_offline_fallback.store.layout import (
    ENTRY_TEMP_PREFIX,
    STALE_TEMP_SECONDS,
    Entry,
    StoreBusy,
    create_exclusive,
    entry_file_name,
    sha256_of_file,
)
from pip_offline_fallback.store.reading import Reader
from pip_offline_fallback.store.recorder import IN_MEMORY, Recorder, unlink_quietly
from pip_offline_fallback.storekey import NO_KEY
from pip_offline_fallback.urls import is_distribution_url, url_key

logger = logging.getLogger(__name__)

# Response headers worth replaying; hop-by-hop and per-client ones (cookies) are never kept.
_KEPT_HEADERS = ("content-type", "content-encoding", "etag", "last-modified", "date")

# A recorder waits this long for the lock before it gives up recording (the install goes on).
COMMIT_LOCK_TIMEOUT = 1.0

_TEMP_PREFIX = "rec-"


class Store(Reader):
    """pip-ff's record: :class:`~.reading.Reader`'s answers, and the bodies it files."""

    def __init__(self, root: str, *, write_behind: bool = False) -> None:
        """``write_behind``: bodies are filed on a thread of their own (:mod:`.committer`)."""
        super().__init__(root)
        self.committer = Committer() if write_behind else None
        self._recording = True
        self._write_failed = False  # said once (see recorder())
        self._swept = False  # stale temporary files cleared (see recorder())

    def file_in_place(self) -> None:
        """No write-behind from now on (serve: what it has answered is in the record)."""
        self.settled()
        self.committer = None

    def file_later(self, job: Callable[[], None]) -> None:
        """Run ``job`` (a body's filing) on the write-behind thread, or now without one."""
        if self.committer is not None:
            self.committer.submit(job)
        else:
            job()

    def resume_recording(self) -> None:
        """Record again after the store was found busy (a prune held it): a command gives up for
        its run; a server that runs for days asks again later."""
        self._recording = True

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
        self,
        url: str,
        headers: Mapping[str, str],
        identity: str | None = None,
        size: int | None = None,
    ) -> Recorder | None:
        """A sink for a body being received online; None when the store can't be written, or
        when the body came with credentials and there is no usable key. ``size``: the body's
        announced length; a small one is kept in memory (see :data:`.recorder.IN_MEMORY`)."""
        if not self._recording or identity == NO_KEY or not self.usable():
            return None
        self.settled()  # at most one body waits to be filed
        if not self._swept:  # the first body: is there a place for temporary files?
            try:
                self.retrying(self.tmp_directory)
            except OSError as exc:
                self.cannot_write(url, exc)
                return None
            self._swept = True
            self._clear_stale_temps()
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
        if size is not None and 0 <= size <= IN_MEMORY:
            return Recorder(self, url, kept, None, None, identity)
        try:
            fd, tmp = self.retrying(lambda: create_exclusive(self.tmp_directory(), _TEMP_PREFIX))
        except OSError as exc:
            self.cannot_write(url, exc)
            return None
        return Recorder(self, url, kept, os.fdopen(fd, "wb"), tmp, identity)

    def cannot_write(self, url: str, exc: OSError) -> None:
        """Recording ``url`` failed on the file system: said once (a store we can't write
        records nothing), then only with -v."""
        if not self._write_failed:
            self._write_failed = True
            logger.warning("pip-ff: can't record into the store %s: %s", self.root, exc)
        logger.debug("pip-ff: not recording %s: %s", url_key(url), exc)

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        """The store lock; raises :class:`StoreBusy` after ``timeout`` seconds (< 0: forever)."""
        self.settled()  # (not on the write-behind thread itself, which files under it)
        self.directory()
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
        body: str | bytes,
        sha256: str,
        size: int,
        identity: str | None = None,
    ) -> bool:
        """File a received body (``body``: its temporary file, or its bytes); False when it was
        not filed (the store is busy, or it would replace a distribution file recorded with
        other bytes)."""
        tmp = body if isinstance(body, str) else None
        if self._recording:

            def commit() -> bool:
                with self.lock(COMMIT_LOCK_TIMEOUT):
                    if identity == NO_KEY or self._refused(url, sha256):
                        if tmp is not None:
                            unlink_quietly(tmp)
                        return False
                    self._file_blob(body, sha256, size)
                    self._write_entry(url, headers, sha256, size, identity)
                return True

            try:
                return self.retrying(commit)
            except StoreBusy:
                # Someone holds the store for longer than an install should wait (a prune):
                # this run records nothing more, and never waits on the store again.
                self._recording = False
                logger.debug("pip-ff: the store is busy; not recording for the rest of this run")
        if tmp is not None:
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
            data = self.read_entry(self.entry_path(target, identity))
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
            if not self.retrying(file_it):
                return False
        except (StoreBusy, OSError) as exc:
            logger.debug("pip-ff: not recording %s: %s", url_key(url), exc)
            return False
        return True

    def _refused(self, url: str, sha256: str) -> bool:
        """Whether filing ``sha256`` as ``url``'s answer would record what can't be it (says
        why, once). Under the lock: what is recorded can't change meanwhile."""
        matches = self.against_page(url, sha256)
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
            and any(_other_bytes(e, sha256) for e in self.entries_of_url(url))
        ):
            logger.warning(
                "pip-ff: %s came with other bytes than recorded before; keeping the recorded copy",
                url_key(url),
            )
            return True
        return False

    def _file_blob(self, body: str | bytes, sha256: str, size: int) -> None:
        """The received body (``body``: its temporary file, or its bytes) as the blob
        ``sha256``, under the lock; filed before its entry, since an entry must never name a
        blob that isn't there."""
        # A blob that already holds these bytes stays (a rename over it costs a flush of the
        # new copy, and would undo its sharing with pip's cache); a damaged one is replaced,
        # which heals it.
        blob = os.path.join(self.directory("blobs", sha256[:2]), sha256)
        if _holds(blob, sha256, size):
            if isinstance(body, str):
                unlink_quietly(body)
            return
        tmp = body if isinstance(body, str) else self._temp_with(body)
        try:
            os.replace(tmp, blob)
        except PermissionError:  # Windows: a reader has it open; it holds the same bytes
            if not os.path.isfile(blob):
                raise
            unlink_quietly(tmp)

    def _temp_with(self, body: bytes) -> str:
        """A temporary file in the store holding ``body`` (a body recorded in memory)."""
        fd, tmp = self.retrying(lambda: create_exclusive(self.tmp_directory(), _TEMP_PREFIX))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
        except BaseException:
            unlink_quietly(tmp)
            raise
        return tmp

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
        directory = self.directory("entries", name[:2])
        if identity is None:
            self._move_credentialed(url)
        fd, tmp_entry = create_exclusive(directory, ENTRY_TEMP_PREFIX)
        try:
            # One write of the whole entry (json.dump writes it in dozens of small pieces).
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(entry).encode("utf-8"))
            os.replace(tmp_entry, os.path.join(directory, name))
        except BaseException:
            unlink_quietly(tmp_entry)
            raise
        self.note_host(url)

    def _move_credentialed(self, url: str) -> None:
        """Before an anonymous entry is written: a credentialed entry an older record filed in
        the anonymous file moves to its own (under the lock), so it is never replaced."""
        legacy = self.any_entry(url)
        if legacy is None or legacy.identity is None:
            return
        own = self.entry_path(url, legacy.identity)
        if os.path.lexists(own):
            return  # a newer entry of that identity exists: the legacy one is replaced
        with contextlib.suppress(OSError):
            os.replace(self.entry_path(url), own)


def _holds(blob: str, sha256: str, size: int) -> bool:
    """Whether ``blob`` is a regular file of exactly ``size`` bytes whose sha256 is ``sha256``."""
    try:
        return os.lstat(blob).st_size == size and sha256_of_file(blob) == sha256
    except OSError:
        return False


def _other_bytes(recorded: Entry | None, sha256: str) -> bool:
    """Whether filing ``sha256`` would replace the other bytes of ``recorded``."""
    return recorded is not None and recorded.sha256 != sha256
