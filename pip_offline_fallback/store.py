"""pip-ff's record of what it received online: index pages and files, with the time they came.

Layout under the store root (``<pip cache dir>/pip-ff`` by default)::

    v1/entries/<k[:2]>/<k>.json   k = sha256 of the URL (no fragment, no credentials)
    v1/blobs/<s[:2]>/<s>          s = sha256 of the body, as received

Every file is written to a temporary name and renamed, so concurrent runs and killed processes
never leave a partial entry; a blob whose bytes no longer match its name is never served.
A lookup is one ``stat`` and one small read, whatever the size of the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

logger = logging.getLogger(__name__)

LAYOUT = "v1"
# Response headers worth replaying; hop-by-hop and per-client ones (cookies) are never kept.
_KEPT_HEADERS = ("content-type", "content-encoding", "etag", "last-modified", "date")
_CHUNK = 1024 * 1024


def url_key(url: str) -> str:
    """The URL an entry is filed under: no fragment, no credentials, lower-case scheme and host."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host.lower() + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entry:
    url: str
    fetched: float
    sha256: str
    size: int
    headers: Mapping[str, str]
    blob: str

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.fetched)


class Store:
    def __init__(self, root: str) -> None:
        self.root = root
        self._base = os.path.join(root, LAYOUT)

    def _entry_path(self, url: str) -> str:
        key = _digest(url_key(url))
        return os.path.join(self._base, "entries", key[:2], key + ".json")

    def _blob_path(self, sha256: str) -> str:
        return os.path.join(self._base, "blobs", sha256[:2], sha256)

    def has(self, url: str) -> bool:
        return os.path.isfile(self._entry_path(url))

    def lookup(self, url: str) -> Entry | None:
        path = self._entry_path(url)
        try:
            if os.path.islink(path):
                return None
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            entry = Entry(
                url=str(data["url"]),
                fetched=float(data["fetched"]),
                sha256=str(data["sha256"]),
                size=int(data["size"]),
                headers={str(k): str(v) for k, v in dict(data["headers"]).items()},
                blob=self._blob_path(str(data["sha256"])),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.debug("pip-ff: skipping unreadable store entry %s: %s", path, exc)
            return None
        if entry.url != url_key(url):
            return None  # a hash collision or a planted file: never serve another URL's data
        return entry

    def open_verified(self, entry: Entry) -> IO[bytes] | None:
        """The entry's body, after checking every byte against the recorded sha256."""
        try:
            if os.path.islink(entry.blob):
                return None
            f = open(entry.blob, "rb")  # noqa: SIM115 - handed to the caller
        except OSError:
            return None
        digest = hashlib.sha256()
        size = 0
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        if digest.hexdigest() != entry.sha256 or size != entry.size:
            f.close()
            logger.warning(
                "pip-ff: the recorded copy of %s is damaged (hash mismatch); not using it",
                entry.url,
            )
            return None
        f.seek(0)
        return f

    def recorder(self, url: str, headers: Mapping[str, str]) -> Recorder | None:
        """A sink for a body being received online; None when the store can't be written."""
        try:
            tmp_dir = os.path.join(self._base, "tmp")
            os.makedirs(tmp_dir, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="rec-")
        except OSError as exc:
            logger.debug("pip-ff: not recording %s: %s", url, exc)
            return None
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
        return Recorder(self, url, kept, os.fdopen(fd, "wb"), tmp)

    def _commit(
        self, url: str, headers: Mapping[str, str], tmp: str, sha256: str, size: int
    ) -> None:
        blob = self._blob_path(sha256)
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        if os.path.isfile(blob) and not os.path.islink(blob) and os.path.getsize(blob) == size:
            os.unlink(tmp)  # same content already kept (content-addressed)
        else:
            os.replace(tmp, blob)
        entry = {
            "url": url_key(url),
            "fetched": time.time(),
            "sha256": sha256,
            "size": size,
            "headers": dict(headers),
        }
        path = self._entry_path(url)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp_entry = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entry, f)
            os.replace(tmp_entry, path)
        except BaseException:
            _unlink_quietly(tmp_entry)
            raise


class Recorder:
    """Receives a body chunk by chunk; :meth:`commit` files it, :meth:`abort` forgets it."""

    def __init__(self, store: Store, url: str, headers: dict[str, str], f: IO[bytes], tmp: str):
        self._store = store
        self._url = url
        self._headers = headers
        self._file: IO[bytes] | None = f
        self._tmp = tmp
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        if self._file is None:
            return
        try:
            self._file.write(data)
        except OSError as exc:  # a full disk costs the record, never the install
            logger.warning("pip-ff: not recording %s: %s", self._url, exc)
            self.abort()
            return
        self._digest.update(data)
        self.size += len(data)

    def commit(self) -> None:
        if self._file is None:
            return
        f, self._file = self._file, None
        try:
            f.close()
            self._store._commit(
                self._url, self._headers, self._tmp, self._digest.hexdigest(), self.size
            )
            logger.debug("pip-ff: recorded %s (%d bytes)", self._url, self.size)
        except OSError as exc:
            logger.warning("pip-ff: not recording %s: %s", self._url, exc)
            _unlink_quietly(self._tmp)

    def abort(self) -> None:
        if self._file is None:
            return
        f, self._file = self._file, None
        with contextlib.suppress(OSError):
            f.close()
        _unlink_quietly(self._tmp)

    @property
    def active(self) -> bool:
        return self._file is not None


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def body_headers(entry_headers: Mapping[str, str], size: int) -> dict[str, Any]:
    headers: dict[str, Any] = dict(entry_headers)
    headers["content-length"] = str(size)
    return headers
