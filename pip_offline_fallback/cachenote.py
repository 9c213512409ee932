"""``pip cache info`` and ``pip cache purge``: one line on pip-ff's record in the same directory.

pip's cache command counts and purges pip's own caches only; the record pip-ff keeps beside
them (``<pip cache dir>/pip-ff``) would otherwise go unmentioned, and a purge leave it whole.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence

from pip_offline_fallback.wording import size_text

logger = logging.getLogger(__name__)

_ACTIONS = ("info", "purge")


def asks_about_the_cache(args: Sequence[str]) -> bool:
    """``pip cache info`` or ``pip cache purge`` (the action is the first word)."""
    words = [arg for arg in args if not arg.startswith("-")]
    return bool(words) and words[0] in _ACTIONS


def size_of(root: str) -> int:
    """Bytes under ``root``, each file once (a blob shared with pip's cache is one inode)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def tell(root: str | None) -> None:
    """The line, when a record exists at ``root``."""
    if not root or not os.path.isdir(root):
        return
    logger.info(
        "pip-ff: pip-ff's record, %s, holds %s (pip's cache command leaves it alone); "
        "pip-ff store prune trims it",
        root,
        size_text(size_of(root)),
    )
