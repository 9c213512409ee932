"""The fallback engine: per request, the network or a local answer; per project, local candidates.

The transport adapter (:mod:`.adapter`) hands every request of pip's session to :meth:`send`;
the finder hooks (:mod:`.finder`) ask :meth:`available` and :meth:`wheelhouse_links`. Resolution,
hash checking, building and installing stay pip's.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pip_offline_fallback import compat, config
from pip_offline_fallback.config import Mode, Settings
from pip_offline_fallback.httpcache import PipHttpCache
from pip_offline_fallback.outage import (
    NETWORK_ERRORS,
    UNREACHABLE_STATUSES,
    Outage,
    describe,
)
from pip_offline_fallback.report import (
    FALLBACK_INDEX,
    NETWORK,
    PIP_CACHE,
    RECORD,
    WHEEL_CACHE,
    WHEELHOUSE,
    Report,
)
from pip_offline_fallback.store import Store, body_headers, host_of, url_key
from pip_offline_fallback.wheelhouse import Wheelhouse, project_of

logger = logging.getLogger(__name__)

TOO_OLD = "too-old"  # an outcome: local index data existed but was older than --max-stale

# The engine of this process, or None when pip-ff is not injected.
active: Fallback | None = None


@dataclass(frozen=True)
class Outcome:
    """How one request was answered."""

    url: str
    source: str  # NETWORK, PIP_CACHE, RECORD, or "failed"
    fetched: float = 0.0
    forced: bool = False  # answered locally because the host is down or the mode is offline


class Fallback:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outage = Outage(settings.unreachable)
        self.report = Report(
            mode=settings.mode.value,
            path=settings.report,
            fallback_indexes=settings.fallback_index_urls,
        )
        self.store: Store | None = Store(settings.store) if settings.store else None
        self.http_caches = [PipHttpCache(d) for d in settings.pip_caches]
        self.wheel_cache_dir: str | None = None
        self.wheelhouse = Wheelhouse(settings.wheelhouses)
        # prefer-offline: URLs whose local answer could not satisfy a requirement; ask the index.
        self.refresh: set[str] = set()
        self.primaries: list[str] = []  # the index URLs of the command (normalised, with "/")
        self.mirror_hosts = {host_of(m) for m in settings.fallback_index_urls}
        self._mirror_attempt = threading.local()
        self._watch = threading.local()

    # -- set-up ------------------------------------------------------------------------------

    def configure(self, cache_dir: str | None, index_urls: Sequence[str] = ()) -> None:
        """Learn pip's cache directory and index URLs (the command's options) before a session."""
        for index_url in index_urls:
            primary = url_key(index_url).rstrip("/") + "/"
            if primary not in self.primaries:
                self.primaries.append(primary)
        if cache_dir and not any(c.cache_dir == cache_dir for c in self.http_caches):
            self.http_caches.insert(0, PipHttpCache(cache_dir))
        if cache_dir and self.wheel_cache_dir is None:
            self.wheel_cache_dir = cache_dir
        if self.store is None and cache_dir:
            self.store = Store(os.path.join(cache_dir, "pip-ff"))
        if self.store is not None:
            default_wheelhouse = os.path.join(self.store.root, "wheelhouse")
            if default_wheelhouse not in self.wheelhouse.directories:
                self.wheelhouse = Wheelhouse((*self.settings.wheelhouses, default_wheelhouse))
        # Build isolation runs pip in a child process without our options: hand it what we know.
        environ = os.environ
        environ.pop(config.REPORT_VARIABLE, None)  # the report is this run's, not the child's
        if self.store is not None:
            environ[config.STORE_VARIABLE] = self.store.root
        caches = [c.cache_dir for c in self.http_caches]
        if caches:
            environ[config.PIP_CACHES_VARIABLE] = os.pathsep.join(caches)

    # -- the transport side ------------------------------------------------------------------

    def send(self, adapter: Any, send: Any, request: Any, kwargs: dict[str, Any]) -> Any:
        url = request.url
        if request.method not in ("GET", "HEAD") or not url.startswith(("http://", "https://")):
            return send(request, **kwargs)
        host = host_of(url)
        if self.settings.mode is Mode.OFFLINE:
            return self._forced_local(adapter, request, host, "offline mode")
        cause = self.outage.cause(host)
        if cause is not None:
            mirrored = self._from_mirrors(adapter, request, kwargs)
            if mirrored is not None:
                return mirrored
            return self._forced_local(adapter, request, host, cause)
        if self.settings.mode is Mode.PREFER_OFFLINE and url not in self.refresh:
            local = self._local(adapter, request, forced=False)
            if local is not None:
                return local
        answer_here = self._has_local(url) or getattr(self._mirror_attempt, "active", False)
        fast = answer_here or self._host_has_local(url)
        if fast:
            kwargs = dict(kwargs, timeout=self._deadline(kwargs.get("timeout")))
        with _retries(adapter, fast, status=not answer_here):
            try:
                response = send(request, **kwargs)
            except NETWORK_ERRORS as exc:
                cause = describe(exc)
                self._went_down(host, cause)
                mirrored = self._from_mirrors(adapter, request, kwargs)
                if mirrored is not None:
                    return mirrored
                local = self._local_or_mirrored(adapter, request)
                if local is None:
                    self._note(Outcome(request.url, "failed", forced=True))
                    raise self._no_local_copy(request, host, cause) from exc
                return local
        if response.status_code in UNREACHABLE_STATUSES:
            self._went_down(host, f"server answered {response.status_code}")
            mirrored = self._from_mirrors(adapter, request, kwargs)
            if mirrored is None:
                mirrored = self._local_or_mirrored(adapter, request)
            if mirrored is not None:
                response.close()
                return mirrored
            self._note(Outcome(request.url, "failed", forced=True))
            return response
        mirror = host in self.mirror_hosts
        self._note(Outcome(url, FALLBACK_INDEX if mirror else NETWORK))
        if request.method == "GET" and response.status_code == 200:
            from_cache = getattr(response, "from_cache", False)
            source = PIP_CACHE if from_cache else FALLBACK_INDEX if mirror else NETWORK
            self.report.file_served(url, source)
            if not from_cache and "range" not in request.headers:
                self._record(
                    request, response, stream=bool(kwargs.get("stream")), spare=answer_here
                )
        return response

    def _index_suffix(self, url: str) -> str | None:
        """The part of a URL below one of the command's index URLs (e.g. ``six/``), if any."""
        key = url_key(url)
        for primary in self.primaries:
            if key.startswith(primary):
                return key[len(primary) :]
        return None

    def _from_mirrors(self, adapter: Any, request: Any, kwargs: dict[str, Any]) -> Any:
        """Ask the fallback indexes, in order, for a page of the unreachable primary index.

        Each goes through the session's own adapter for its URL (and so through :meth:`send`):
        a dead mirror is marked down as fast as a dead primary, an answer is recorded.
        """
        if not self.settings.fallback_index_urls or request.method != "GET":
            return None
        suffix = self._index_suffix(request.url)
        session_ref = adapter.__dict__.get("_pipff_session")
        session = session_ref() if session_ref is not None else None
        if suffix is None or session is None:
            return None
        for mirror in self.settings.fallback_index_urls:
            if self.outage.cause(host_of(mirror)) is not None:
                continue
            mirror_url, mirror_request, auth = _mirror_request(request, mirror, suffix)
            if auth is not None:
                # The mirror's pages link its files: pip's own auth must know them by host.
                compat.remember_credentials(session, mirror_url, auth)
            self._mirror_attempt.active = True
            try:
                response = session.get_adapter(mirror_url).send(mirror_request, **kwargs)
            except NETWORK_ERRORS:
                continue  # send() marked that mirror down
            finally:
                self._mirror_attempt.active = False
            if response.status_code in UNREACHABLE_STATUSES or response.status_code >= 400:
                response.close()
                continue
            self.report.mirror_used(mirror)
            return response
        return None

    def _deadline(self, timeout: Any) -> Any:
        deadline = self.settings.connect_timeout
        if isinstance(timeout, tuple):
            connect, read = timeout
            return (min(connect, deadline) if connect else deadline, read)
        if isinstance(timeout, (int, float)):
            return (min(timeout, deadline), timeout)
        if timeout is None:
            return (deadline, None)
        return timeout  # an urllib3 Timeout object: leave pip's choice alone

    def _went_down(self, host: str, cause: str) -> None:
        first = self.outage.mark_down(host, cause)
        self.report.host_down(host, cause, announce=first)
        if first:
            hosts = self.outage.hosts
            os.environ[config.UNREACHABLE_VARIABLE] = "\n".join(
                f"{h} {c}" for h, c in hosts.items()
            )

    def _local_or_mirrored(self, adapter: Any, request: Any) -> Any:
        """Local sources for ``request``; failing those, what was recorded from a fallback index.

        A page that only ever came through a mirror is filed under the mirror's URL. Once the
        mirror is down too, it is still the right answer for the primary's page: it is what the
        chain last said. Its links lead to the mirror's files, and those are looked up locally
        in turn (the mirror's host is down).
        """
        local = self._local(adapter, request, forced=True)
        suffix = self._index_suffix(request.url) if local is None else None
        if suffix is None or request.method != "GET":
            return local
        for mirror in self.settings.fallback_index_urls:
            local = self._local(adapter, _mirror_request(request, mirror, suffix)[1], forced=True)
            if local is not None:
                return local
        return None

    def _forced_local(self, adapter: Any, request: Any, host: str, cause: str) -> Any:
        local = self._local_or_mirrored(adapter, request)
        if local is not None:
            return local
        self._note(Outcome(request.url, "failed", forced=True))
        raise self._no_local_copy(request, host, cause)

    def _no_local_copy(self, request: Any, host: str, cause: str) -> Exception:
        return compat.RequestsConnectionError(
            f"pip-ff: {compat.redact(host)} is unreachable ({cause}) and there is no local copy "
            f"of {compat.redact(request.url)}",
            request=request,
        )

    def _has_local(self, url: str) -> bool:
        if self.store is not None and self.store.has(url):
            return True
        return any(cache.has(url) for cache in self.http_caches)

    def _host_has_local(self, url: str) -> bool:
        """Whether pip-ff recorded anything from this URL's host, on any earlier run.

        Such a host gets the fast path for every URL: a page that was never recorded (one the
        index did not have, e.g. most projects on an extra index) would otherwise be the one
        request that waits through pip's retries (seconds; minutes in a black hole) before the
        host counts as down and the rest of the command goes local.
        """
        return self.store is not None and self.store.knows_host_of(url)

    def _local(self, adapter: Any, request: Any, *, forced: bool) -> Any:
        """A response built from local sources, or None. Never raises.

        Index pages (requests made while the finder watches a page fetch) older than
        ``--max-stale`` are refused; distribution files never expire. A distribution file comes
        from pip-ff's record before pip's HTTP cache: the record's copy is checked against its
        sha256 before use, pip's cache entries are not (a damaged one would only fail pip's
        hash check, or go unnoticed where the index gives no hash).
        """
        limit = self.settings.max_stale if self._watching() else None
        too_old: list[float] = []
        filename = urllib.parse.unquote(request.url.split("#", 1)[0].rsplit("/", 1)[-1])
        lookups = [self._from_pip_caches, self._from_record]
        if project_of(filename) is not None:
            lookups.reverse()
        try:
            for lookup in lookups:
                response = lookup(adapter, request, forced, limit, too_old)
                if response is not None:
                    return response
            # The same file, dropped into a wheelhouse (pip checks it against the link's hash).
            path = self.wheelhouse.file_named(filename) if request.method == "GET" else None
            if path is not None:
                body = open(path, "rb")  # noqa: SIM115 - handed to the response
                size = os.fstat(body.fileno()).st_size
                raw = compat.make_raw_response(body, {"content-length": str(size)}, request)
                self._note(Outcome(request.url, WHEELHOUSE, os.path.getmtime(path), forced))
                self.report.file_served(request.url, WHEELHOUSE, path=path)
                return compat.build_response(adapter, request, raw)
        except Exception as exc:  # pip's own error is better than ours
            logger.debug("pip-ff: local lookup of %s failed: %r", compat.redact(request.url), exc)
        if too_old:
            self._note(Outcome(request.url, TOO_OLD, too_old[0], forced))
        return None

    def _from_pip_caches(
        self, adapter: Any, request: Any, forced: bool, limit: float | None, too_old: list[float]
    ) -> Any:
        for cache in self.http_caches:
            cached = cache.lookup(request)
            if cached is None:
                continue
            if limit is not None and cached.age > limit:
                too_old.append(cached.fetched)
                cached.raw.release_conn()
                continue
            self._served(request, PIP_CACHE, cached.fetched, forced)
            return compat.build_response(adapter, request, cached.raw)
        return None

    def _from_record(
        self, adapter: Any, request: Any, forced: bool, limit: float | None, too_old: list[float]
    ) -> Any:
        entry = self.store.lookup(request.url) if self.store is not None else None
        if entry is None or self.store is None:
            return None
        if limit is not None and entry.age > limit:
            too_old.append(entry.fetched)
            return None
        body = self.store.open_verified(entry)
        if body is None:
            return None
        raw = compat.make_raw_response(body, body_headers(entry.headers, entry.size), request)
        self._served(request, RECORD, entry.fetched, forced, entry.sha256)
        return compat.build_response(adapter, request, raw)

    def _served(
        self, request: Any, source: str, fetched: float, forced: bool, sha256: str | None = None
    ) -> None:
        self._note(Outcome(request.url, source, fetched, forced))
        self.report.file_served(request.url, source, sha256=sha256)

    def _record(self, request: Any, response: Any, *, stream: bool, spare: bool = False) -> None:
        if self.store is None:
            return
        try:
            length = response.headers.get("content-length")
            raw = response.raw
            if length is not None and getattr(raw, "_fp", None) is not None:
                recorder = self.store.recorder(request.url, response.headers)
                if recorder is not None or spare:
                    raw._fp = _Tee(
                        raw._fp,
                        recorder,
                        int(length),
                        self._hashed(request.url),
                        self._spare(request.url) if spare else None,
                    )
            elif not stream:
                # No length (chunked page): pip reads the whole page anyway; keep it decoded.
                content = response.content
                headers = {
                    k: v for k, v in response.headers.items() if k.lower() != "content-encoding"
                }
                recorder = self.store.recorder(request.url, headers)
                if recorder is not None:
                    recorder.write(content)
                    recorder.commit()
        except Exception as exc:
            logger.debug("pip-ff: not recording %s: %r", compat.redact(request.url), exc)

    def _spare(self, url: str) -> Any:
        """For a transfer that drops short: the verified local copy of ``url`` and its size."""

        def spare() -> tuple[Any, int] | None:
            entry = self.store.lookup(url) if self.store is not None else None
            body = self.store.open_verified(entry) if self.store and entry else None
            if entry is None or body is None:
                return None
            self._went_down(host_of(url), "connection dropped mid-transfer")
            self.report.file_served(url, RECORD, sha256=entry.sha256)
            return body, entry.size

        return spare

    def _hashed(self, url: str) -> Any:
        def hashed(sha256: str) -> None:
            self.report.file_hashed(url, sha256)

        return hashed

    def local_file_served(self, url: str) -> None:
        """pip opened a file:// URL: a wheelhouse file, or a wheel pip built earlier from an
        sdist (its wheel cache), during a fallback; for the report."""
        try:
            path = compat.url_to_path(url)
        except Exception:
            return
        real = os.path.realpath(path)
        directory = os.path.dirname(real)
        if any(os.path.realpath(d) == directory for d in self.wheelhouse.directories):
            self.report.file_served(url, WHEELHOUSE, path=path)
        elif self.wheel_cache_dir and (self.settings.mode is not Mode.AUTO or self.outage.hosts):
            # No request is made for such an sdist: this is the only trace of where it came from.
            wheels = os.path.realpath(os.path.join(self.wheel_cache_dir, "wheels"))
            if real.startswith(wheels + os.sep):
                self.report.file_served(url, WHEEL_CACHE)

    # -- the finder side ---------------------------------------------------------------------

    def _watching(self) -> bool:
        return getattr(self._watch, "outcomes", None) is not None

    @contextlib.contextmanager
    def watching(self) -> Iterator[list[Outcome]]:
        """Collect the outcomes of the requests made inside the block (one index page fetch)."""
        outcomes: list[Outcome] = []
        previous = getattr(self._watch, "outcomes", None)
        self._watch.outcomes = outcomes
        try:
            yield outcomes
        finally:
            self._watch.outcomes = previous

    def _note(self, outcome: Outcome) -> None:
        outcomes = getattr(self._watch, "outcomes", None)
        if outcomes is not None:
            outcomes.append(outcome)

    def available(self, finder: Any, link: Any, project: str) -> bool:
        """Whether pip could fetch this link (or use a wheel built from it) without the network."""
        if getattr(link, "scheme", "") == "file":
            return True
        url = link.url_without_fragment
        if self._has_local(url):
            return True
        if self.wheel_cache_dir and not link.is_wheel:
            try:
                return compat.wheel_cache_has(
                    self.wheel_cache_dir, link, project, compat.supported_tags(finder)
                )
            except Exception as exc:
                logger.debug("pip-ff: wheel cache lookup failed: %r", exc)
        return False

    def wheelhouse_links(self, project: str) -> list[Any]:
        return [
            compat.Link(compat.path_to_url(path)) for path in self.wheelhouse.files_for(project)
        ]


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    clean = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    user = urllib.parse.unquote(parts.username)
    return clean, (user, urllib.parse.unquote(parts.password or ""))


def _mirror_request(request: Any, mirror: str, suffix: str) -> tuple[str, Any, Any]:
    """The request for the same page on a fallback index: its URL, the request, its credentials.

    Credentials meant for the primary never travel to another host; the mirror's own
    (user:password@ in its URL) go in a header, never in a URL that might be logged.
    """
    mirror_request = request.copy()
    mirror_request.headers.pop("Authorization", None)
    mirror_url, auth = _split_credentials(mirror.rstrip("/") + "/" + suffix)
    mirror_request.prepare_url(mirror_url, None)
    if auth is not None:
        mirror_request.prepare_auth(auth, mirror_url)
    return mirror_url, mirror_request, auth


def _prefix_digest(body: Any, size: int) -> bytes:
    """The sha256 of the first ``size`` bytes of ``body``, read a chunk at a time."""
    digest = hashlib.sha256()
    while size > 0:
        chunk = body.read(min(size, 1024 * 1024))
        if not chunk:
            break
        digest.update(chunk)
        size -= len(chunk)
    return digest.digest()


class _Tee:
    """Wraps the raw body stream of a response: what pip reads is also recorded.

    The body is committed only once exactly Content-Length bytes went through; a transfer that
    drops, or that pip abandons, leaves nothing behind. When the transfer ends short (the
    connection dropped, reset or timed out mid-body) and ``spare`` yields a verified local copy
    of the same size that agrees with every byte received so far, the rest of the body is read
    from that copy: pip gets the whole file, as if the transfer had completed.
    """

    def __init__(
        self, fp: Any, recorder: Any, expected: int, on_commit: Any, spare: Any = None
    ) -> None:
        self._pipff_fp = fp
        self._pipff_recorder = recorder
        self._pipff_expected = expected
        self._pipff_on_commit = on_commit
        self._pipff_spare = spare
        self._pipff_received = 0
        # What was received so far, hashed (only with a spare, to check it against the local
        # copy): the recorder's own running hash while it records, so no byte is hashed twice.
        self._pipff_prefix: Any = None
        if spare is not None and (recorder is None or not recorder.active):
            self._pipff_prefix = hashlib.sha256()
        self._pipff_local: Any = None
        if expected == 0 and recorder is not None:
            self._pipff_commit()

    def _pipff_commit(self) -> None:
        recorder = self._pipff_recorder
        recorder.commit()
        sha256 = getattr(recorder, "sha256", None)
        if sha256:
            self._pipff_on_commit(sha256)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipff_fp, name)

    def _pipff_feed(self, data: Any) -> Any:
        if not data:
            return data
        self._pipff_received += len(data)
        if self._pipff_local is not None:
            return data
        if self._pipff_prefix is not None:
            self._pipff_prefix.update(data)
        recorder = self._pipff_recorder
        if recorder is None or not recorder.active:
            return data
        recorder.write(data)
        if not recorder.active:
            if self._pipff_spare is not None:
                # The recorder gave up (a full disk) before this chunk: hash on from its state.
                self._pipff_prefix = recorder.digest_so_far()
                self._pipff_prefix.update(data)
        elif recorder.size == self._pipff_expected:
            self._pipff_commit()
        elif recorder.size > self._pipff_expected:
            recorder.abort()
        return data

    def _pipff_short(self) -> bool:
        """The network ended short: switch to the local copy if it fits (True), else False."""
        spare, self._pipff_spare = self._pipff_spare, None
        if spare is None or self._pipff_received >= self._pipff_expected:
            return False
        try:
            found = spare()
            if found is None:
                return False
            body, size = found
            received = (
                self._pipff_prefix
                if self._pipff_prefix is not None
                else self._pipff_recorder.digest_so_far()
            )
            if size != self._pipff_expected or _prefix_digest(body, self._pipff_received) != (
                received.digest()
            ):
                body.close()
                return False
        except Exception as exc:
            logger.debug("pip-ff: no local copy to complete a short transfer: %r", exc)
            return False
        if self._pipff_recorder is not None:
            self._pipff_recorder.abort()  # the local copy is that very body, already kept
        self._pipff_local = body
        return True

    def _pipff_read(self, method: str, *args: Any) -> Any:
        if self._pipff_local is not None:
            return self._pipff_feed(getattr(self._pipff_local, method)(*args))
        try:
            data = getattr(self._pipff_fp, method)(*args)
        except http.client.IncompleteRead as exc:
            data = exc.partial
            if data:
                return self._pipff_feed(data)
            if self._pipff_short():
                return self._pipff_read(method, *args)
            raise
        except OSError:
            if self._pipff_short():
                return self._pipff_read(method, *args)
            raise
        if not data and (not args or args[0]) and self._pipff_short():
            return self._pipff_read(method, *args)
        return self._pipff_feed(data)

    def read(self, *args: Any) -> Any:
        return self._pipff_read("read", *args)

    def read1(self, *args: Any) -> Any:
        return self._pipff_read("read1", *args)

    def readinto(self, buffer: Any) -> Any:
        data = self._pipff_read("read", len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _safe_read(self, amt: int) -> Any:
        if self._pipff_local is not None:
            return self._pipff_read("read", amt)
        return self._pipff_feed(self._pipff_fp._safe_read(amt))

    def isclosed(self) -> bool:
        if self._pipff_local is not None:
            return self._pipff_received >= self._pipff_expected
        return bool(self._pipff_fp.isclosed())

    @property
    def closed(self) -> bool:
        if self._pipff_local is not None:
            return bool(self._pipff_local.closed)
        return bool(self._pipff_fp.closed)

    def close(self) -> None:
        if self._pipff_recorder is not None:
            self._pipff_recorder.abort()  # no-op once committed
        if self._pipff_local is not None:
            self._pipff_local.close()
        self._pipff_fp.close()


_override = threading.local()


@contextlib.contextmanager
def _retries(adapter: Any, fast: bool, *, status: bool) -> Iterator[None]:
    """Within the block, this thread's requests use pip's retries minus connection retries
    (see compat.fast_retries)."""
    if not fast:
        yield
        return
    previous = getattr(_override, "retries", None)
    _override.retries = compat.fast_retries(adapter.__dict__.get("max_retries", 0), status=status)
    try:
        yield
    finally:
        _override.retries = previous


def retries_override() -> Any:
    return getattr(_override, "retries", None)
