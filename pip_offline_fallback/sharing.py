"""Every byte stored once: a body that pip-ff recorded and pip's HTTP cache holds too becomes one
file with two names, the record's blob and pip's cache file (a hard link).

Where the index sends cache headers (PyPI does), pip (23.3+, its ``http-v2`` layout) keeps each
response's body in ``<entry>.body``, and pip-ff's record keeps the same bytes under their sha256.
At the end of a command, each body recorded in it whose pip cache file holds exactly those bytes
(the linked file is hashed before it replaces the blob) is linked. Neither pip nor pip-ff ever
writes into an existing file (both write a new one and rename it), so one name's owner can't
change the other's bytes: ``pip cache purge`` drops pip's name and the record keeps its copy, and
a blob is still checked against its sha256 every time it is read. pip's files are private (mode
0600): one becomes a blob only where that takes no permission away from the blob (another user of
a shared store could no longer read it) or where the store is private anyway. Older pips keep the
body inside the entry (``http``): nothing to share. On another file system, or where links can't
be made, both copies stay.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Iterable

from pip_offline_fallback import compat
from pip_offline_fallback.store import COMMIT_LOCK_TIMEOUT, Store, StoreBusy, sha256_of_file
from pip_offline_fallback.store.recorder import unlink_quietly

logger = logging.getLogger(__name__)

_LAYOUT = "http-v2"  # the layout that keeps bodies in files of their own


def share_with_pip_cache(
    store: Store, pip_cache_dir: str, recorded: Iterable[tuple[str, str]]
) -> int:
    """Link each recorded body (``(url, sha256)``, as this command recorded it) with pip's HTTP
    cache file for that URL in ``pip_cache_dir``, where it holds the same bytes. Returns how
    many were linked; never raises (both copies stay)."""
    directory = os.path.join(pip_cache_dir, _LAYOUT)
    if not os.path.isdir(directory):
        return 0
    shared = 0
    for url, sha256 in recorded:
        body = compat.http_cache_path(directory, url.split("#", 1)[0]) + ".body"
        try:
            shared += _share(store, sha256, body)
        except (OSError, NotImplementedError, StoreBusy) as exc:  # no hard links here
            logger.debug("pip-ff: %s stays a copy of its own: %s", compat.redact(url), exc)
    if shared:
        logger.debug("pip-ff: %d recorded bodies now share pip's HTTP cache files", shared)
    return shared


def _modes_allow(store: Store, sha256: str, ours: os.stat_result, theirs: os.stat_result) -> bool:
    """Whether pip's file may become the blob as far as permissions go.

    pip writes its cache files through a NamedTemporaryFile: mode 0600. The store makes its
    files 0666 minus the umask, so that a store can be shared (``PIPFF_STORE`` for a group).
    A blob that became pip's 0600 file would be unreadable to the others, who would then get
    "no local copy". So: only where pip's file grants everything the blob does, or where no
    one else can reach the store anyway.
    """
    if os.name != "posix":
        return True  # modes are not permissions there
    lost = stat.S_IMODE(ours.st_mode) & ~stat.S_IMODE(theirs.st_mode) & 0o777
    if not lost or _private(store.root):
        return True
    logger.debug(
        "pip-ff: blob %s stays a copy of its own: pip's file (mode %o) would take away %o",
        sha256[:16],
        stat.S_IMODE(theirs.st_mode),
        lost,
    )
    return False


def _private(path: str) -> bool:
    """Whether no one but its owner can reach ``path``: one directory on the way to it (or it)
    that only its owner may enter."""
    path = os.path.abspath(path)
    while True:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if stat.S_ISDIR(st.st_mode) and not st.st_mode & 0o011:
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


def _share(store: Store, sha256: str, body: str) -> bool:
    blob = store.blob_path(sha256)
    try:
        ours, theirs = os.lstat(blob), os.lstat(body)
    except FileNotFoundError:  # pip did not cache it (no cache headers), or nothing recorded
        return False
    if not (stat.S_ISREG(ours.st_mode) and stat.S_ISREG(theirs.st_mode)):
        return False
    if ours.st_size != theirs.st_size or ours.st_dev != theirs.st_dev:
        return False
    if ours.st_ino == theirs.st_ino:
        return False  # one file already
    if not _modes_allow(store, sha256, ours, theirs):
        return False
    link = os.path.join(store.tmp_directory(), "share-" + secrets.token_hex(8))
    os.link(body, link, follow_symlinks=False)
    try:
        # What becomes the blob is checked through its new name: pip's file, whatever happened
        # to it since the lstat (a symbolic link put in its place is linked as a link, and
        # refused here), must be a regular file holding exactly the recorded bytes.
        if sha256_of_file(link) != sha256:
            return False
        with store.lock(COMMIT_LOCK_TIMEOUT):
            os.replace(link, blob)
        return True
    finally:
        unlink_quietly(link)  # gone already when it replaced the blob
