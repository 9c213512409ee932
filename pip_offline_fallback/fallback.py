"""The fallback engine: per request, the network or a local answer; per project, local candidates.

The transport adapter (:mod:`.adapter`) hands every request of pip's session to :meth:`send`;
the finder hooks (:mod:`.finder`) ask :meth:`available` and :meth:`wheelhouse_links`. Resolution,
hash checking, building and installing stay pip's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pip_offline_fallback import compat, config, mirrors, plausible
from pip_offline_fallback.config import Mode, Settings
from pip_offline_fallback.httpcache import PipHttpCache
from pip_offline_fallback.outage import (
    NETWORK_ERRORS,
    PROXY_GATEWAY_STATUSES,
    ROUTE,
    THROTTLED,
    UNREACHABLE_STATUSES,
    Outage,
    classify,
    proxy_route,
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
from pip_offline_fallback.tee import BodyTee
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
        self.fallback_indexes = _fallback_indexes(settings.fallback_index_urls)
        self.report = Report(
            mode=settings.mode.value,
            path=settings.report,
            fallback_indexes=[m.url for m in self.fallback_indexes],
        )
        self.store: Store | None = Store(settings.store) if settings.store else None
        self.http_caches = [PipHttpCache(d) for d in settings.pip_caches]
        self.wheel_cache_dir: str | None = None
        self.wheelhouse = Wheelhouse(settings.wheelhouses)
        # prefer-offline: URLs whose local answer could not satisfy a requirement; ask the index.
        self.refresh: set[str] = set()
        # Primary pages a live mirror answered but could not satisfy: local data answers them.
        self.past_mirrors: set[str] = set()
        self.primaries: list[str] = []  # the index URLs of the command (normalised, with "/")
        self.mirror_hosts = {host_of(m.url) for m in self.fallback_indexes}
        # The command only lists what index data says (list --outdated, index versions): a page
        # from local data offers every version it lists, not only those with local files.
        self.listing_only = False
        # pip's --timeout was chosen by the user: the connect deadline never shortens it.
        self.timeout_chosen = False
        self._mirror_attempt = threading.local()
        # Redirect targets (URL keys) not yet recorded -> the links that led there.
        self._redirects: dict[str, list[str]] = {}
        self._redirects_lock = threading.Lock()
        self._watch = threading.local()
        # pip commands (Command._main) running in this process. None running means a program
        # drives pip's resolver itself (pip-compile): it needs a candidate's metadata, never
        # its file, so a candidate whose PEP 658 metadata is local is enough for it.
        self.commands_running = 0

    # -- set-up ------------------------------------------------------------------------------

    def configure(
        self,
        cache_dir: str | None,
        index_urls: Sequence[str] = (),
        timeout: float | None = None,
        record_cache_dir: str | None = None,
    ) -> None:
        """Learn pip's cache directory, index URLs and timeout (the command's options) before a
        session; the record goes in ``record_cache_dir`` (the user's pip cache), else cache_dir."""
        for index_url in index_urls:
            primary = mirrors.primary_key(index_url)
            if primary not in self.primaries:
                self.primaries.append(primary)
        if timeout is not None and timeout != compat.PIP_DEFAULT_TIMEOUT:
            self.timeout_chosen = True
        if cache_dir and not any(c.cache_dir == cache_dir for c in self.http_caches):
            self.http_caches.insert(0, PipHttpCache(cache_dir))
        if cache_dir and self.wheel_cache_dir is None:
            self.wheel_cache_dir = cache_dir
        if self.store is None and cache_dir:
            self.store = Store(os.path.join(record_cache_dir or cache_dir, "pip-ff"))
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
        proxy = compat.select_proxy(url, kwargs.get("proxies"))
        via = proxy_route(host_of(proxy)) if proxy else None
        asking_mirror = self._mirror_attempt_active()
        if self.settings.mode is Mode.OFFLINE:
            return self._forced_local(adapter, request, host, "offline mode")
        cause = self.outage.cause(host) or (self.outage.cause(via) if via else None)
        if cause is not None:
            if asking_mirror:
                raise self._no_local_copy(request, host, cause)
            return self._answer_down(adapter, request, kwargs, host, cause)
        if self.settings.mode is Mode.PREFER_OFFLINE and url not in self.refresh:
            local = self._local(adapter, request, forced=False)
            if local is not None:
                return local
        has_local = self._has_local(url)  # asked once: it also decides the spare below
        fast = asking_mirror or has_local or self._host_has_local(url)
        if fast:
            kwargs = dict(kwargs, timeout=self._deadline(kwargs.get("timeout")))
        with _retries(adapter, fast):
            try:
                response = send(request, **kwargs)
            except NETWORK_ERRORS as exc:
                kind, cause = classify(exc)
                if via and url.startswith("http://") and cause in _PROXY_GATEWAY_CAUSES:
                    # A 502/503/504 outlived pip's retries on a request the proxy forwards
                    # itself: the proxy's word that it can't reach the index (see below).
                    kind, cause = ROUTE, cause.replace("server", "proxy")
                if kind == ROUTE:
                    self._went_down(via if via and _through_proxy(cause) else host, cause)
                if asking_mirror:
                    raise
                if kind == ROUTE:
                    return self._answer_down(adapter, request, kwargs, host, cause, exc)
                return self._answer_failed(adapter, request, cause, exc)
        status = response.status_code
        if via and status in PROXY_GATEWAY_STATUSES and url.startswith("http://"):
            # The proxy forwards plain-http requests itself: this is its word that it could
            # not reach the index (after pip's retries), for every host behind it.
            cause = f"proxy answered {status}"
            self._went_down(via, cause)
            if asking_mirror:
                return response
            response.close()
            return self._answer_down(adapter, request, kwargs, host, cause)
        if (status in UNREACHABLE_STATUSES or status == THROTTLED) and not asking_mirror:
            local = self._answer_failed(adapter, request, f"server answered {status}", None)
            if local is not None:
                response.close()
                return local
            return response
        mirror = host in self.mirror_hosts
        fresh = (
            request.method == "GET" and status == 200 and not getattr(response, "from_cache", False)
        )
        if fresh:
            doubt = self._doubt(request, response)
            if doubt is not None:
                if asking_mirror:
                    return response  # the chain weighs it (_from_mirrors); never recorded
                return self._doubted(adapter, request, kwargs, response, host, doubt)
        self._note(Outcome(url, FALLBACK_INDEX if mirror else NETWORK))
        if request.method == "GET" and status == 200:
            from_cache = getattr(response, "from_cache", False)
            source = PIP_CACHE if from_cache else FALLBACK_INDEX if mirror else NETWORK
            self.report.file_served(url, source)
            if not from_cache and "range" not in request.headers:
                self._record(
                    request,
                    response,
                    stream=bool(kwargs.get("stream")),
                    spare=has_local,
                )
        elif request.method == "GET" and response.is_redirect:
            self._redirected(url, response)
        return response

    def _doubt(self, request: Any, response: Any) -> str | None:
        """Why a 200 answer can't be what was asked (a captive portal's page), or None."""
        content_type = response.headers.get("content-type", "")
        if plausible.is_distribution_url(request.url):
            return plausible.doubt_about_file(content_type)
        project = getattr(self._watch, "project", None)
        # Only a project page of an index (or a mirror's) must list the project: a --find-links
        # page lists whatever it holds, often nothing of the project asked for.
        index_page = self._index_suffix(request.url) is not None
        if project is None or not (index_page or self._mirror_attempt_active()):
            return None
        return plausible.doubt_about_page(project, content_type, response.content)

    def _mirror_attempt_active(self) -> bool:
        return bool(getattr(self._mirror_attempt, "active", False))

    def _doubted(
        self,
        adapter: Any,
        request: Any,
        kwargs: dict[str, Any],
        response: Any,
        host: str,
        doubt: str,
    ) -> Any:
        """An answer that can't be what was asked: never recorded; local data answers instead.

        An HTML page where a file was asked is no index at all: the host counts as unreachable
        for the run. A project page that lists nothing of its project is answered locally
        when local data exists (an index may really have emptied a project's page); otherwise
        pip gets the page as it came.
        """
        if plausible.is_distribution_url(request.url):
            response.close()
            self._went_down(host, doubt)
            return self._answer_down(adapter, request, kwargs, host, doubt)
        local = self._answer_failed(adapter, request, doubt, None)
        if local is not None:
            response.close()
            return local
        return response

    def _answer_down(
        self,
        adapter: Any,
        request: Any,
        kwargs: dict[str, Any],
        host: str,
        cause: str,
        exc: BaseException | None = None,
    ) -> Any:
        """The answer for a request to a route that is down: the primary's mirrors, then local
        sources; pip-ff's "no local copy" error when neither has it."""
        mirrored = self._from_mirrors(adapter, request, kwargs)
        if mirrored is not None:
            return mirrored
        local = self._local_or_mirrored(adapter, request)
        if local is not None:
            return local
        self._note(Outcome(request.url, "failed", forced=True))
        raise self._no_local_copy(request, host, cause) from exc

    def _answer_failed(
        self, adapter: Any, request: Any, cause: str, exc: BaseException | None
    ) -> Any:
        """A URL the index answered badly after pip's retries: its local copy, said so; else
        pip-ff's "no local copy" error (for ``exc``) or None (pip gets the answer it had)."""
        local = self._local_or_mirrored(adapter, request)
        self.report.url_failed(request.url, cause, local=local is not None)
        if local is None:
            self._note(Outcome(request.url, "failed", forced=True))
            if exc is not None:
                raise compat.RequestsConnectionError(
                    f"pip-ff: {compat.redact(request.url)} failed after pip's retries ({cause}) "
                    "and there is no local copy",
                    request=request,
                ) from exc
        return local

    def _index_suffix(self, url: str) -> tuple[str, str] | None:
        """(the primary index, the part of the URL below it, e.g. ``six/``), if any."""
        key = url_key(url)
        for primary in self.primaries:
            if key.startswith(primary):
                return primary, key[len(primary) :]
        return None

    def _mirrors_of(self, primary: str) -> list[mirrors.FallbackIndex]:
        default = self.primaries[0] if self.primaries else None
        return [m for m in self.fallback_indexes if m.serves(primary, default)]

    def _from_mirrors(self, adapter: Any, request: Any, kwargs: dict[str, Any]) -> Any:
        """Ask the primary's own fallback indexes, in order, for a page of that primary.

        Each request goes through the session (and so through :meth:`send`): a dead mirror is
        marked down as fast as a dead primary, an answer is recorded. The first mirror that
        answers decides; "not found", or a page that lists nothing of the project, ends the
        chain (local sources answer), so no later index can serve what this one lacks.
        """
        if not self.fallback_indexes or request.method != "GET":
            return None
        if request.url in self.past_mirrors:
            return None
        found = self._index_suffix(request.url)
        session_ref = adapter.__dict__.get("_pipff_session")
        session = session_ref() if session_ref is not None else None
        if found is None or session is None:
            return None
        primary, suffix = found
        project = getattr(self._watch, "project", None)
        for mirror in self._mirrors_of(primary):
            self._mirror_attempt.active = True
            try:
                response = mirrors.fetch(
                    session, mirror, suffix, request.headers.get("Accept"), **kwargs
                )
            except NETWORK_ERRORS:
                continue  # send() marked that mirror down
            finally:
                self._mirror_attempt.active = False
            status = response.status_code
            if status in UNREACHABLE_STATUSES or status == THROTTLED:
                response.close()
                continue
            if status != 200 or (
                project is not None
                and plausible.doubt_about_page(
                    project, response.headers.get("content-type", ""), response.content
                )
            ):
                response.close()
                return None
            self.report.mirror_used(mirror.url)
            return response
        return None

    def _deadline(self, timeout: Any) -> Any:
        """pip's timeout with the connect deadline as its connect part; pip's own timeout for
        reading, and untouched when the user chose it."""
        if self.timeout_chosen:
            return timeout
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
        found = self._index_suffix(request.url) if local is None else None
        if found is None or request.method != "GET":
            return local
        primary, suffix = found
        for mirror in self._mirrors_of(primary):
            url = mirrors.without_credentials(mirror.url).rstrip("/") + "/" + suffix
            local = self._local(adapter, _local_request(request, url), forced=True)
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
        if self.store is None:
            return None
        entry = self.store.lookup(request.url, self._identity(request))
        if entry is None:
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
            identity = self._identity(request)
            filed = self._filed_as(request.url)
            length = response.headers.get("content-length")
            raw = response.raw
            consumed = getattr(response, "_content_consumed", False)  # read by _doubt
            if length is not None and not consumed and getattr(raw, "_fp", None) is not None:
                recorder = self.store.recorder(filed, response.headers, identity)
                if recorder is not None or spare:
                    raw._fp = BodyTee(
                        raw._fp,
                        recorder,
                        int(length),
                        self._committer(request.url, filed),
                        self._spare(request.url, identity) if spare else None,
                    )
            elif consumed or not stream:
                # A page already read, or one with no length (chunked): pip reads the whole
                # page anyway; keep it decoded.
                content = response.content
                headers = {
                    k: v for k, v in response.headers.items() if k.lower() != "content-encoding"
                }
                recorder = self.store.recorder(filed, headers, identity)
                if recorder is not None:
                    recorder.write(content)
                    recorder.commit()
                    if recorder.sha256:
                        self._committed(request.url, filed, recorder.sha256)
        except Exception as exc:
            logger.debug("pip-ff: not recording %s: %r", compat.redact(request.url), exc)

    def _identity(self, request: Any) -> str | None:
        """Who asked: a record made with credentials answers only the same credentials."""
        if self.store is None:
            return None
        return self.store.identity(request.headers.get("Authorization"))

    def _spare(self, url: str, identity: str | None) -> Any:
        """For a transfer that drops short: the verified local copy of ``url`` and its size."""

        def spare() -> tuple[Any, int] | None:
            entry = self.store.lookup(url, identity) if self.store is not None else None
            body = self.store.open_verified(entry) if self.store and entry else None
            if entry is None or body is None:
                return None
            # The same bytes as far as they came: the file pip gets is the one the index sent.
            self.report.url_failed(url, "connection dropped mid-transfer", local=True)
            self.report.file_served(url, RECORD, sha256=entry.sha256)
            return body, entry.size

        return spare

    def _filed_as(self, url: str) -> str:
        """The URL a body is recorded under: its own, except for a redirect target with a query
        (a pre-signed URL: its signature is a credential, and useless once expired), which is
        filed under the link that led there."""
        if "?" not in url:
            return url
        with self._redirects_lock:
            sources = self._redirects.get(url_key(url))
        return sources[0] if sources else url

    def _committer(self, url: str, filed: str) -> Any:
        def committed(sha256: str) -> None:
            self._committed(url, filed, sha256)

        return committed

    def _committed(self, url: str, filed: str, sha256: str) -> None:
        """A body of ``url`` is in the record (under ``filed``): for the report, and for the
        links that redirected to it (filed under their own URL too, to resolve offline)."""
        self.report.file_hashed(url, sha256)
        with self._redirects_lock:
            sources = self._redirects.pop(url_key(url), [])
        for source in sources:
            recorded = source == filed or (
                self.store is not None and self.store.alias(source, filed)
            )
            if recorded:
                self._committed(source, source, sha256)

    def _redirected(self, url: str, response: Any) -> None:
        """A link answered with a redirect (a CDN, a pre-signed URL): remember where it led."""
        location = response.headers.get("location")
        if location:
            target = url_key(urllib.parse.urljoin(url, location))
            with self._redirects_lock:
                self._redirects.setdefault(target, []).append(url)

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
    def watching(self, project: str | None = None) -> Iterator[list[Outcome]]:
        """Collect the outcomes of the requests made inside the block (one index page fetch of
        ``project``)."""
        outcomes: list[Outcome] = []
        previous = getattr(self._watch, "outcomes", None), getattr(self._watch, "project", None)
        self._watch.outcomes, self._watch.project = outcomes, project
        try:
            yield outcomes
        finally:
            self._watch.outcomes, self._watch.project = previous

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
        # PEP 658: the metadata file is the file's URL + ".metadata".
        return self.commands_running == 0 and self._has_local(url + ".metadata")

    def wheelhouse_links(self, project: str) -> list[Any]:
        return [
            compat.Link(compat.path_to_url(path)) for path in self.wheelhouse.files_for(project)
        ]


def _fallback_indexes(values: Sequence[str]) -> list[mirrors.FallbackIndex]:
    found = []
    for value in values:
        try:
            found.append(mirrors.parse_fallback_index(value))
        except ValueError as exc:
            logger.warning("pip-ff: ignoring fallback index %s", exc)
    return found


_PROXY_GATEWAY_CAUSES = frozenset(f"server answered {s}" for s in PROXY_GATEWAY_STATUSES)


def _through_proxy(cause: str) -> bool:
    """Whether a route-level failure, on a request that goes through a proxy, is the proxy's
    (every host behind it) or the host's: everything but a TLS handshake (which, through a
    tunnel, is with the host itself) happened between pip and the proxy."""
    return cause != "TLS handshake failed"


def _local_request(request: Any, url: str) -> Any:
    """A copy of ``request`` for another URL, only to look that URL up locally (never sent)."""
    local = request.copy()
    local.prepare_url(url, None)
    return local


_override = threading.local()


@contextlib.contextmanager
def _retries(adapter: Any, fast: bool) -> Iterator[None]:
    """Within the block, this thread's requests use pip's retries minus retries of connections
    that could not be made (see compat.fast_retries)."""
    if not fast:
        yield
        return
    previous = getattr(_override, "retries", None)
    _override.retries = compat.fast_retries(adapter.__dict__.get("max_retries", 0))
    try:
        yield
    finally:
        _override.retries = previous


def retries_override() -> Any:
    return getattr(_override, "retries", None)
