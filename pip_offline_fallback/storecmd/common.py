"""What the ``pip-ff store`` commands share: exit statuses, where the store is, sizes and ages
as text, and writing to stdout."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pip_offline_fallback import config
from pip_offline_fallback.errors import UsageError

logger = logging.getLogger(__name__)


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# -- finding the store -----------------------------------------------------------------------


def _pip_cache_dir() -> str | None:
    """The cache directory pip itself would use here; None when pip's cache is switched off."""
    # pip's own option parser applies PIP_CACHE_DIR, pip's configuration files and the default
    # exactly as an install run would.
    value: object = os.environ.get("PIP_CACHE_DIR")
    if value and not os.environ.get("PIP_NO_CACHE_DIR"):
        # What pip's parser would answer (the variable beats pip's configuration files),
        # without the second it takes to import pip's commands.
        return os.path.abspath(os.path.expanduser(str(value)))
    from pip_offline_fallback import compat

    try:
        options, _ = compat.create_command("download").parse_args([])
        value = options.cache_dir
    except (Exception, SystemExit) as exc:  # pip's parser exits on a bad configuration
        logger.debug("pip-ff: pip's option parser failed (%r); using pip's default", exc)
        value = os.environ.get("PIP_CACHE_DIR") or compat.USER_CACHE_DIR
    if not value:
        return None
    return os.path.abspath(os.path.expanduser(str(value)))


@dataclass(frozen=True)
class Location:
    store: str
    cache_dir: str | None  # pip's cache directory, when known (the check reads it too)


def locate(store: str | None, cache_dir: str | None) -> Location:
    """Where the store is: the same place a ``pip-ff install`` with these options records to.

    ``--cache-dir`` means what it means to pip: where pip's own caches are. As for an install,
    it doesn't move the record (a tool's own ``--cache-dir`` must not split a user's record);
    ``--store`` and ``PIPFF_STORE`` do.
    """
    cache = os.path.abspath(os.path.expanduser(cache_dir)) if cache_dir else None
    if store:
        return Location(os.path.abspath(os.path.expanduser(store)), cache)
    if os.environ.get(config.STORE_VARIABLE):
        return Location(config.expand_path(os.environ[config.STORE_VARIABLE]), cache)
    configured = _pip_cache_dir()
    if configured is None:
        raise UsageError(
            "pip's cache is switched off (--no-cache-dir or PIP_NO_CACHE_DIR), so pip-ff keeps "
            "no store; name one with --store DIR"
        )
    return Location(os.path.join(configured, "pip-ff"), cache or configured)


def write(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def write_table(rows: Sequence[Sequence[str]], indent: str = "") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        write((indent + "  ".join(cells)).rstrip())
