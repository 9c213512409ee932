"""The local sources of a fallback, behind one interface: ``lookup(request, max_age)``.

Each source answers only the exact URL it holds, as a urllib3 response the engine hands to
pip: pip's HTTP cache (stale entries included), pip-ff's record (verified against its sha256
before use) and the wheelhouses (by file name; pip checks the file against the link's hash).
pip's wheel cache holds no URLs: it is asked per link (:meth:`LocalSources.can_fetch`, which
asks for one index page's links at once).

A server (``pip-ff serve``) needs data, not a transport object: :meth:`LocalSources.body`
answers with a :class:`LocalBody` (the bytes' file, headers, age, sha256 and source) from the
record and the wheelhouses.

Thread safety: one LocalSources serves many threads (serve); lookups share nothing but the
memo of pip's wheel caches, filled under a lock.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Callable, Protocol, Union

from pip_offline_fallback import bugs, compat
from pip_offline_fallback.httpcache import PipHttpCache
from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.store import Store, body_headers
from pip_offline_fallback.urls import filename_of, project_of
from pip_offline_fallback.wheelhouse import Wheelhouse

if TYPE_CHECKING:
    from pip._internal.models.link import Link
    from pip._vendor.packaging.tags import Tag
    from pip._vendor.requests import PreparedRequest
    from pip._vendor.urllib3.response import HTTPResponse

logger = logging.getLogger(__name__)


@dataclass
class Found:
    """A local answer: a response whose body is not read yet, and where it came from."""

    raw: HTTPResponse
    source: Source
    fetched: float  # when the data was fetched (a wheelhouse file: its modification time)
    sha256: str | None = None  # verified (the record)
    path: str | None = None  # a wheelhouse file


@dataclass
class LocalBody:
    """A local answer as data: an open file of its bytes (verified against ``sha256`` when the
    record gave it), the headers worth replaying, and where and when it came from."""

    file: IO[bytes]
    size: int
    source: Source
    fetched: float
    headers: Mapping[str, str] = field(default_factory=dict)
    sha256: str | None = None  # verified against the bytes (the record)
    path: str | None = None  # a wheelhouse file

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.fetched)


@dataclass
class TooOld:
    """Local index data older than ``--max-stale``: refused."""

    fetched: float


Answer = Union[Found, TooOld, None]


class LocalSource(Protocol):
    def has(self, url: str) -> bool:
        """Whether this source holds ``url`` (cheap: no body is read)."""

    def lookup(self, request: PreparedRequest, max_age: float | None) -> Answer:
        """The local answer to ``request``; data older than ``max_age`` seconds is TooOld."""


class PipHttpCaches:
    """pip's HTTP cache directories, the command's own first."""

    def __init__(self, cache_dirs: tuple[str, ...] = ()) -> None:
        self.caches = [PipHttpCache(d) for d in cache_dirs]

    @property
    def directories(self) -> list[str]:
        return [c.cache_dir for c in self.caches]

    def add_first(self, cache_dir: str) -> None:
        if cache_dir not in self.directories:
            self.caches.insert(0, PipHttpCache(cache_dir))

    def has(self, url: str) -> bool:
        return any(cache.has(url) for cache in self.caches)

    def on_disk(self) -> PipHttpCaches:
        """Only the caches (and their layouts) that exist now: see :meth:`PipHttpCache.on_disk`."""
        present = PipHttpCaches()
        present.caches = [c for c in (cache.on_disk() for cache in self.caches) if c is not None]
        return present

    def lookup(self, request: PreparedRequest, max_age: float | None) -> Answer:
        too_old: TooOld | None = None
        for cache in self.caches:
            cached = cache.lookup(request)
            if cached is None:
                continue
            if max_age is not None and cached.age > max_age:
                too_old = too_old or TooOld(cached.fetched)
                cached.raw.release_conn()
                continue
            return Found(cached.raw, Source.PIP_CACHE, cached.fetched)
        return too_old


class Record:
    """pip-ff's record: an entry made with credentials answers only the same credentials."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def has(self, url: str) -> bool:
        return self.store.has(url)

    def identity(self, request: PreparedRequest) -> str | None:
        authorization = request.headers.get("Authorization")
        return self.store.identity(str(authorization) if authorization else None)

    def body(
        self, url: str, authorization: str | None, max_age: float | None
    ) -> LocalBody | TooOld | None:
        """The recorded body of ``url`` for these credentials, verified, as data."""
        entry = self.store.lookup(url, self.store.identity(authorization))
        if entry is None:
            return None
        if max_age is not None and entry.age > max_age:
            return TooOld(entry.fetched)
        body = self.store.open_verified(entry)
        if body is None:
            return None
        return LocalBody(
            body, entry.size, Source.RECORD, entry.fetched, entry.headers, entry.sha256
        )

    def lookup(self, request: PreparedRequest, max_age: float | None) -> Answer:
        authorization = request.headers.get("Authorization")
        answer = self.body(str(request.url), str(authorization) if authorization else None, max_age)
        if not isinstance(answer, LocalBody):
            return answer
        raw = compat.make_raw_response(
            answer.file, body_headers(answer.headers, answer.size), request
        )
        return Found(raw, Source.RECORD, answer.fetched, sha256=answer.sha256)


class Wheelhouses:
    """Files dropped into wheelhouse directories, found by their file name."""

    def __init__(self, directories: tuple[str, ...]) -> None:
        self.wheelhouse = Wheelhouse(directories)

    def has(self, url: str) -> bool:
        return self.wheelhouse.file_named(filename_of(url)) is not None

    def body(self, url: str) -> LocalBody | None:
        """The wheelhouse file named as ``url``'s last segment, as data (not verified: a
        wheelhouse file has no recorded hash; the caller compares it with the page's)."""
        path = self.wheelhouse.file_named(filename_of(url))
        if path is None:
            return None
        try:
            f = open(path, "rb")  # noqa: SIM115 - handed to the caller
        except OSError:
            return None
        size = os.fstat(f.fileno()).st_size
        return LocalBody(f, size, Source.WHEELHOUSE, os.path.getmtime(path), path=path)

    def lookup(self, request: PreparedRequest, max_age: float | None) -> Answer:
        if request.method != "GET":
            return None
        path = self.wheelhouse.file_named(filename_of(str(request.url)))
        if path is None:
            return None
        body = open(path, "rb")  # noqa: SIM115 - handed to the response
        size = os.fstat(body.fileno()).st_size
        raw = compat.make_raw_response(body, {"content-length": str(size)}, request)
        return Found(raw, Source.WHEELHOUSE, os.path.getmtime(path), path=path)


class LocalSources:
    """Every local source of this run, asked in order for one URL."""

    def __init__(self, pip_caches: tuple[str, ...], wheelhouses: tuple[str, ...]) -> None:
        self.pip_caches = PipHttpCaches(pip_caches)
        self.record: Record | None = None
        self._wheelhouse_dirs = wheelhouses
        self.wheelhouses = Wheelhouses(wheelhouses)
        self._wheel_caches: dict[str, compat.BuiltWheels | None] = {}
        self._wheel_caches_lock = threading.Lock()

    @property
    def store(self) -> Store | None:
        return self.record.store if self.record is not None else None

    def use_store(self, store: Store) -> None:
        """Record into (and answer from) ``store``; its wheelhouse directory is a wheelhouse."""
        self.record = Record(store)
        default = os.path.join(store.root, "wheelhouse")
        if default not in self._wheelhouse_dirs:
            self._wheelhouse_dirs = (*self._wheelhouse_dirs, default)
            self.wheelhouses = Wheelhouses(self._wheelhouse_dirs)

    @property
    def wheelhouse(self) -> Wheelhouse:
        return self.wheelhouses.wheelhouse

    def has(self, url: str) -> bool:
        """Whether pip's cache or the record holds ``url`` (the fast path's question)."""
        if self.record is not None and self.record.has(url):
            return True
        return self.pip_caches.has(url)

    def can_fetch(
        self,
        links: Sequence[Link],
        tags: Callable[[], list[Tag]],
        project: str,
        wheel_cache_dir: str | None,
        *,
        metadata_enough: bool,
    ) -> list[bool]:
        """For each of ``links`` (one index page's candidates), whether pip could fetch it from
        a local source, or use a wheel pip built from it earlier (pip's wheel cache, for
        ``tags``); ``metadata_enough``: its PEP 658 metadata file (the file's URL + ".metadata")
        will do.

        A page lists every release (hundreds, on PyPI): what holds for all its links, which of
        pip's caches exist at all, is looked at once per page, and each link then costs a stat
        or two (a record entry, a pip cache entry, a wheel cache directory).
        """
        pip_caches = self.pip_caches.on_disk()
        built = self._built_wheels(wheel_cache_dir)
        if built is not None and not built.exists():
            built = None

        def has(url: str) -> bool:
            if self.record is not None and self.record.has(url):
                return True
            return pip_caches.has(url)

        fetchable: list[bool] = []
        for link in links:
            if link.scheme == "file":
                fetchable.append(True)
                continue
            url = link.url_without_fragment
            found = has(url)
            if not found and built is not None and not link.is_wheel:
                try:
                    found = built.has(link, project, tags)
                except Exception as exc:
                    logger.warning("pip-ff: pip's wheel cache lookup failed: %r", exc)
                    built = None  # once per page is enough to say so
            fetchable.append(found or (metadata_enough and has(url + ".metadata")))
        return fetchable

    def _built_wheels(self, cache_dir: str | None) -> compat.BuiltWheels | None:
        """pip's wheel cache in ``cache_dir``, made on first use (one per run and directory;
        None, said once, where pip's can't be made)."""
        if not cache_dir:
            return None
        with self._wheel_caches_lock:
            return self._built_wheels_locked(cache_dir)

    def _built_wheels_locked(self, cache_dir: str) -> compat.BuiltWheels | None:
        if cache_dir not in self._wheel_caches:
            try:
                self._wheel_caches[cache_dir] = compat.BuiltWheels(cache_dir)
            except Exception as exc:
                logger.warning("pip-ff: pip's wheel cache lookup failed: %r", exc)
                self._wheel_caches[cache_dir] = None
        return self._wheel_caches[cache_dir]

    def knows_host_of(self, url: str) -> bool:
        """Whether pip-ff recorded anything from this URL's host, on any earlier run."""
        return self.record is not None and self.record.store.knows_host_of(url)

    def body(
        self, url: str, authorization: str | None = None, max_age: float | None = None
    ) -> LocalBody | TooOld | None:
        """``url``'s local answer as data: the record (verified), then the wheelhouses (by file
        name). pip's HTTP cache is not asked: its entries carry no hash to verify. Never
        raises."""
        too_old: TooOld | None = None
        try:
            if self.record is not None:
                answer = self.record.body(url, authorization, max_age)
                if isinstance(answer, LocalBody):
                    return answer
                too_old = answer
            return self.wheelhouses.body(url) or too_old
        except OSError as exc:  # a file that vanished or can't be read: no local copy
            logger.debug("pip-ff: local lookup of %s failed: %r", compat.redact(url), exc)
        except Exception as exc:
            bugs.unexpected(exc, f"the local lookup of {compat.redact(url)}")
        return too_old

    def lookup(self, request: PreparedRequest, max_age: float | None) -> Answer:
        """The first source's answer. A distribution file comes from the record before pip's
        cache: the record's copy is checked against its sha256, pip's cache entries are not (a
        damaged one would only fail pip's hash check, or go unnoticed where the index gives no
        hash). Never raises: pip's own error is better than ours."""
        order: list[LocalSource] = [self.pip_caches]
        if self.record is not None:
            dist_file = project_of(filename_of(str(request.url))) is not None
            order.insert(0 if dist_file else 1, self.record)
        order.append(self.wheelhouses)
        too_old: TooOld | None = None
        try:
            for source in order:
                answer = source.lookup(request, max_age)
                if isinstance(answer, Found):
                    return answer
                too_old = too_old or answer
            found = self._metadata_from_wheel(request, max_age)
            if found is not None:
                return found
        except (OSError, zipfile.BadZipFile) as exc:  # unreadable, or a wheel that is no zip
            logger.debug(
                "pip-ff: local lookup of %s failed: %r", compat.redact(str(request.url)), exc
            )
        except Exception as exc:
            bugs.unexpected(exc, f"the local lookup of {compat.redact(str(request.url))}")
        return too_old

    def _metadata_from_wheel(self, request: PreparedRequest, max_age: float | None) -> Answer:
        """A wheel's PEP 658 metadata file, read from the local wheel itself.

        A pip that predates PEP 658 (23.0) records the wheel but never its ``.metadata``; a newer
        pip reading the same record (a new venv's, say) asks for that file first, and stops at
        a missing one. PEP 658 makes it the wheel's own ``METADATA``, byte for byte, so pip's
        check of its hash holds.
        """
        url = str(request.url)
        if request.method != "GET" or not url.endswith(".whl.metadata"):
            return None
        wheel_request = request.copy()
        wheel_request.url = url[: -len(".metadata")]
        answer = self.lookup(wheel_request, max_age)
        if not isinstance(answer, Found):
            return None
        try:
            data = answer.raw.read(decode_content=True)
        finally:
            answer.raw.close()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                return None
            metadata = archive.read(names[0])
        headers = {"content-length": str(len(metadata))}
        raw = compat.make_raw_response(io.BytesIO(metadata), headers, request)
        return Found(raw, answer.source, answer.fetched)
