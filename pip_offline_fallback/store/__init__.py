"""pip-ff's record of what it received online: index pages and files, with the time they came.

A package split by what it does: :mod:`.layout` (the files on disk, their names and paths, and
the rules that keep the record safe to share), :mod:`.reading` (lookups and verified bodies, no
lock), :mod:`.writing` (:class:`Store`: filing bodies under the store lock, through
:mod:`.recorder` and the write-behind :mod:`.committer`), and, for ``pip-ff store`` alone,
:mod:`.inventory` (a scan of every file) and :mod:`.prune`, which are not imported here.
"""

from __future__ import annotations

from pip_offline_fallback.store.layout import (
    LAYOUT,
    STALE_TEMP_SECONDS,
    Entry,
    StoreBusy,
    sha256_of_file,
)
from pip_offline_fallback.store.reading import body_headers
from pip_offline_fallback.store.writing import COMMIT_LOCK_TIMEOUT, Store

__all__ = [
    "COMMIT_LOCK_TIMEOUT",
    "LAYOUT",
    "STALE_TEMP_SECONDS",
    "Entry",
    "Store",
    "StoreBusy",
    "body_headers",
    "sha256_of_file",
]
