"""Read-only access to pip's own HTTP cache, stale entries included.

pip (through CacheControl) files a response under a path made from its URL
(:func:`pip_offline_fallback.compat.http_cache_path`). pip 23.3+ writes ``http-v2`` with the body
in ``<path>.body``; older pips wrote ``http`` with the body inside the entry. Both are read. The
entry stores no URL and no fetch time: the key is the URL, and the age comes from the
response's Date header (or the file's modification time).
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pip_offline_fallback import compat

if TYPE_CHECKING:
    from pip._vendor.requests import PreparedRequest
    from pip._vendor.urllib3 import HTTPResponse

logger = logging.getLogger(__name__)


@dataclass
class CachedResponse:
    raw: HTTPResponse  # body not read yet
    fetched: float
    path: str

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.fetched)


class PipHttpCache:
    """One pip cache directory (the one holding ``http-v2`` and ``http``)."""

    def __init__(self, cache_dir: str, layouts: tuple[str, ...] | None = None) -> None:
        self.cache_dir = cache_dir
        self.layouts: tuple[str, ...] = compat.HTTP_CACHE_LAYOUTS if layouts is None else layouts
        self._dirs = [os.path.join(cache_dir, layout) for layout in self.layouts]

    def on_disk(self) -> PipHttpCache | None:
        """This cache with only the layouts that exist now (None: pip cached nothing here).

        Asked once per index page: its links are then not hashed for a layout that isn't there
        (an index that sends no cache headers leaves pip's HTTP cache empty).
        """
        present = tuple(
            layout
            for layout, directory in zip(self.layouts, self._dirs)
            if os.path.isdir(directory)
        )
        if not present:
            return None
        return self if present == self.layouts else PipHttpCache(self.cache_dir, present)

    def has(self, url: str) -> bool:
        for directory in self._dirs:
            path = compat.http_cache_path(directory, url.split("#", 1)[0])
            if os.path.isfile(path):
                return True
        return False

    def lookup(self, request: PreparedRequest) -> CachedResponse | None:
        url = str(request.url).split("#", 1)[0]
        for directory in self._dirs:
            path = compat.http_cache_path(directory, url)
            try:
                found = self._load(request, path)
            except Exception as exc:
                logger.debug("pip-ff: skipping unreadable pip cache entry %s: %s", path, exc)
                continue
            if found is not None:
                return found
        return None

    def _load(self, request: PreparedRequest, path: str) -> CachedResponse | None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        body_path = path + ".body"
        body = open(body_path, "rb") if os.path.isfile(body_path) else None  # noqa: SIM115
        try:
            raw = compat.load_http_cache_entry(request, data, body)
        except Exception:
            if body is not None:
                body.close()
            raise
        if raw is None:
            if body is not None:
                body.close()
            return None
        if raw.status != 200 or not _complete(raw, body_path if body is not None else None):
            raw.release_conn()
            if body is not None:
                body.close()
            return None
        fetched = _date(raw.headers.get("date")) or os.path.getmtime(path)
        return CachedResponse(raw=raw, fetched=fetched, path=path)


def _complete(raw: HTTPResponse, body_path: str | None) -> bool:
    """A truncated body (killed writer, full disk) must never be served."""
    length = raw.headers.get("content-length")
    if length is None or body_path is None:
        return True
    try:
        return int(length) == os.path.getsize(body_path)
    except (ValueError, OSError):
        return False


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
