"""Every byte stored once: a body that pip-ff recorded and pip's HTTP cache holds too becomes one
file with two names, the record's blob and pip's cache file (a hard link).

Where the index sends cache headers (PyPI does), pip (23.3+, its ``http-v2`` layout) keeps each
response's body in ``<entry>.body``, and pip-ff's record keeps the same bytes under their sha256.
At the end of a command, each body recorded in it whose pip cache file holds exactly those bytes
(the linked file is hashed before it replaces the blob) is linked. Neither pip nor pip-ff ever
writes into an existing file (both write a new one and rename it), so one name's owner can't
change the other's bytes: ``pip cache purge`` drops pip's name and the record keeps its copy, and
a blob is still checked against its sha256 every time it is read. Older pips keep the body inside
the entry (``http``): nothing to share. On another file system, or where links can't be made,
both copies stay.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Iterable

from pip_offline_fallback import compat
from pip_offline_fallback.recorder import unlink_quietly
from pip_offline_fallback.store import COMMIT_LOCK_TIMEOUT, Store, StoreBusy, sha256_of_file

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
