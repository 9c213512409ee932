"""The fallback engine: per request, the network or a local answer; per project, local candidates.

The decisions live here: is the route down (outage), what does the mode allow, how long may a
connect take (the deadline), which source answers. The transport adapter (:mod:`.adapter`) hands
every request of pip's session to :meth:`Engine.send`; the finder hooks (:mod:`.finder`) watch
each page fetch and ask :meth:`Engine.available`. Resolution, hash checking, building and
installing stay pip's.

Thread safety: ``pip-ff serve`` calls :meth:`Engine.send` from many threads at once. What a
request is for (its project, whether it is a page) is the calling thread's own
(:meth:`Engine.watching`), as are the adapter's retry override and the chain's attempt; the
outage, the report, the recording, the store and the local sources lock what they share.
``_refresh``, ``listing_only`` and ``commands_running`` belong to pip commands (one thread).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Callable

from pip_offline_fallback import bugs, causes, childenv, compat, plausible, sharing
from pip_offline_fallback.causes import Cause
from pip_offline_fallback.chain import MirrorChain
from pip_offline_fallback.config import Mode, Settings
from pip_offline_fallback.deadline import ConnectTimes, deadline_for
from pip_offline_fallback.outage import (
    NETWORK_ERRORS,
    PIPS,
    PROXY_GATEWAY_STATUSES,
    ROUTE,
    Outage,
    answered_locally,
    connect_deadline,
    connect_part,
    judge,
    proxy_route,
)
from pip_offline_fallback.outcomes import Outcome, Source
from pip_offline_fallback.recording import Recording
from pip_offline_fallback.report import VERBOSE, Report
from pip_offline_fallback.sources import Found, LocalSources
from pip_offline_fallback.store import Store
from pip_offline_fallback.urls import host_of

if TYPE_CHECKING:
    from pip._internal.index.package_finder import PackageFinder
    from pip._internal.models.link import Link
    from pip._vendor.requests import PreparedRequest, Response
    from pip._vendor.requests.adapters import HTTPAdapter

logger = logging.getLogger(__name__)


class _UnreadablePage(Exception):
    """A local copy of a page exists and can't be read (see Engine._page)."""


# pip's send, as the adapter hands it over: (request, kwargs, fast) -> response. ``fast``: this
# request has a local answer to fall back on, so connections that can't be made aren't retried.
Send = Callable[["PreparedRequest", "dict[str, Any]", bool], "Response"]

_active: Engine | None = None


def active_engine() -> Engine | None:
    """The engine of this process, or None when pip-ff is not injected."""
    return _active


def activate(settings: Settings) -> Engine:
    global _active
    _active = Engine(settings)
    return _active


def deactivate() -> None:
    global _active
    _active = None


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outage = Outage(settings.unreachable)
        self.chain = MirrorChain(settings.fallback_index_urls)
        self.report = Report(
            mode=settings.mode.value,
            path=settings.report,
            fallback_indexes=[m.url for m in self.chain.fallback_indexes],
        )
        self.sources = LocalSources(settings.pip_caches, settings.wheelhouses)
        if settings.store:
            self.sources.use_store(Store(settings.store, write_behind=True))
        self.recording = Recording(self.sources, self.report)
        self.report.record_knows = self._record_knows
        self._said_unrecorded = False
        self.wheel_cache_dir: str | None = None
        # prefer-offline: URLs whose local answer could not satisfy a requirement; ask the index.
        self._refresh: set[str] = set()
        # The command only lists what index data says (list --outdated, index versions): a page
        # from local data offers every version it lists, not only those with local files.
        self.listing_only = False
        # --timeout on the command's own command line: the connect deadline never shortens it
        # (see deadline.py; a timeout from the environment or pip.conf only caps it).
        self.timeout_chosen = False
        self.connect_times = ConnectTimes(self.store.root if self.store is not None else None)
        # Per thread: the page fetch watched (outcomes, project), and the route (first hop) of
        # the request in flight, for connected().
        self._watch = threading.local()
        # pip commands (Command._main) running in this process (see available()).
        self.commands_running = 0

    @property
    def store(self) -> Store | None:
        return self.sources.store

    # -- set-up ------------------------------------------------------------------------------

    def configure(
        self,
        cache_dir: str | None,
        index_urls: Sequence[str] = (),
        record_cache_dir: str | None = None,
    ) -> None:
        """Learn pip's cache directory and index URLs (the command's options) before a session;
        the record goes in ``record_cache_dir`` (the user's pip cache), else cache_dir."""
        for index_url in index_urls:
            self.chain.add_primary(index_url)
            self.report.index_hosts.append(host_of(index_url))
        if cache_dir:
            self.sources.pip_caches.add_first(cache_dir)
            if self.wheel_cache_dir is None:
                self.wheel_cache_dir = cache_dir
            if self.store is None:
                store = Store(
                    os.path.join(record_cache_dir or cache_dir, "pip-ff"), write_behind=True
                )
                self.sources.use_store(store)
        elif self.store is None and not self._said_unrecorded:
            # Online nothing else is said (pip's output is pip's); -v tells why a later
            # offline run will find nothing from this one.
            self._said_unrecorded = True
            logger.log(VERBOSE, "pip-ff: pip's cache is off: nothing is recorded this run")
        if self.connect_times.path is None and self.store is not None:
            self.connect_times = ConnectTimes(self.store.root)
        # Build isolation runs pip in a child process without our options: hand it what we know.
        childenv.build_outcomes(self.report.build.path_for_children())
        childenv.hand_down(
            self.store.root if self.store is not None else None,
            self.sources.pip_caches.directories,
        )

    def _record_knows(self, host: str) -> bool | None:
        """Whether the record holds anything from ``host``; None: no record this run."""
        store = self.store
        return None if store is None else store.knows_host_of(host)

    # -- the transport side ------------------------------------------------------------------

    def send(
        self, adapter: HTTPAdapter, send: Send, request: PreparedRequest, kwargs: dict[str, Any]
    ) -> Response:
        url = str(request.url)
        if request.method not in ("GET", "HEAD") or not url.startswith(("http://", "https://")):
            return send(request, kwargs, False)
        host = host_of(url)
        proxy = compat.select_proxy(url, kwargs.get("proxies"))
        via = proxy_route(host_of(proxy)) if proxy else None
        asking_mirror = self.chain.asking
        if self.settings.mode is Mode.OFFLINE:
            return self._forced_local(adapter, request, host, causes.OFFLINE)
        cause = self.outage.cause(host) or (self.outage.cause(via) if via else None)
        if cause is not None:
            if asking_mirror:
                raise self._no_local_copy(request, host, cause)
            return self._answer_down(adapter, request, kwargs, host, cause)
        if self.settings.mode is Mode.PREFER_OFFLINE and url not in self._refresh:
            local = self._local(adapter, request, forced=False)
            if local is not None:
                return local
        has_local = self.sources.has(url)  # asked once: it also decides the spare below
        # A host pip-ff recorded anything from gets the fast path for every URL: a page never
        # recorded (one the index did not have) would otherwise wait through pip's retries.
        fast = asking_mirror or has_local or self.sources.knows_host_of(url)
        hop = via or host  # what a connection is made to: the proxy, if there is one
        if fast and not self.timeout_chosen:  # a timeout the user chose is never shortened
            wait = deadline_for(self.settings.connect_timeout, self.connect_times.slowest(hop))
            pips = connect_part(kwargs.get("timeout"))
            kwargs = dict(kwargs, timeout=connect_deadline(kwargs.get("timeout"), wait))
            # A connect that misses the deadline goes on up to pip's own timeout (late.py).
            self._watch.patience = None if pips is None else (hop, pips[0])
        # The answer's first byte: timed always; a deadline like the connect's while a local
        # answer exists (not under the strict setting: there a read timeout is pip's).
        self._watch.answer = self.connect_times.first_byte_wait(
            host, kwargs.get("timeout"), fast and not self.settings.strict, self.timeout_chosen
        )
        started = time.monotonic()
        self._watch.hop = hop
        try:
            response = send(request, kwargs, fast)
        except NETWORK_ERRORS as exc:
            failed = judge(
                exc,
                strict=self.settings.strict,
                host=host,
                via=via,
                plain_http=url.startswith("http://"),
                waited=time.monotonic() - started,
            )
            if failed.verdict == PIPS:
                raise  # the strict setting: this is no outage, and pip says what happened
            if failed.down is not None:
                self._went_down(failed.down, failed.cause)
            if asking_mirror:
                raise
            if failed.verdict == ROUTE:
                return self._answer_down(adapter, request, kwargs, host, failed.cause, exc)
            local = self._answer_failed(adapter, request, failed.cause, exc)
            if local is None:  # not reached: with an exception, no local copy raises
                raise
            return local
        finally:
            self._watch.hop = self._watch.patience = self._watch.answer = None
        return self._answered(adapter, request, kwargs, response, host, via, has_local)

    def _answered(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        kwargs: dict[str, Any],
        response: Response,
        host: str,
        via: str | None,
        has_local: bool,
    ) -> Response:
        """What pip gets for a response: it, or a local answer when the response is no answer."""
        url = str(request.url)
        asking_mirror = self.chain.asking
        status = response.status_code
        strict = self.settings.strict
        if via and status in PROXY_GATEWAY_STATUSES and url.startswith("http://") and not strict:
            # The proxy forwards plain-http requests itself: this is its word that it could
            # not reach the index (after pip's retries), for every host behind it.
            cause = causes.answered(status, proxy=True)
            self._went_down(via, cause)
            if asking_mirror:
                return response
            response.close()
            return self._answer_down(adapter, request, kwargs, host, cause)
        if answered_locally(status, strict) and not asking_mirror:
            local = self._answer_failed(adapter, request, causes.answered(status), None)
            if local is not None:
                response.close()
                return local
            return response
        from_cache = bool(getattr(response, "from_cache", False))
        if request.method == "GET" and status == 200 and not from_cache:
            doubt = self._doubt(request, response)
            if doubt is not None:
                if asking_mirror:
                    return response  # the chain weighs it; never recorded
                return self._doubted(adapter, request, kwargs, response, host, causes.doubt(doubt))
        mirror = host in self.chain.hosts
        self._note(Outcome(url, Source.FALLBACK_INDEX if mirror else Source.NETWORK))
        if request.method == "GET" and status == 200:
            source = (
                Source.PIP_CACHE
                if from_cache
                else Source.FALLBACK_INDEX
                if mirror
                else Source.NETWORK
            )
            self.report.file_served(url, source)
            if not from_cache and "range" not in request.headers:
                stream = bool(kwargs.get("stream"))
                self.recording.record(request, response, stream=stream, spare=has_local)
        elif request.method == "GET" and response.is_redirect:
            self.recording.redirected(url, response)
        return response

    def _doubt(self, request: PreparedRequest, response: Response) -> str | None:
        """Why a 200 answer can't be what was asked (a captive portal's page), or None: the
        project comes from the request's context (:meth:`watching`)."""
        return self.doubt(request, response, getattr(self._watch, "project", None))

    def doubt(
        self, request: PreparedRequest, response: Response, project: str | None
    ) -> str | None:
        """:meth:`_doubt` with the project asked for given explicitly (None: not a project
        page's request): a caller with no finder (serve) says what it asked for."""
        # What was asked for: this URL, or the link that redirected here (a portal's 302 to
        # /login, a CDN's opaque object URL). The answer must be able to be that.
        asked = self.recording.asked_for(str(request.url))
        content_type = response.headers.get("content-type", "")
        if any(plausible.is_distribution_url(u) for u in asked):
            return plausible.doubt_about_file(content_type)
        # Only a project page of an index (or a mirror's) must list the project: a --find-links
        # page lists whatever it holds, often nothing of the project asked for.
        index_page = any(self.chain.index_suffix(u) is not None for u in asked)
        if project is None or not (index_page or self.chain.asking):
            return None
        return plausible.doubt_about_page(project, content_type, response.content)

    def _doubted(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        kwargs: dict[str, Any],
        response: Response,
        host: str,
        doubt: Cause,
    ) -> Response:
        """An answer that can't be what was asked: never recorded; local data answers instead.

        An HTML page where a file was asked is no index at all: the host counts as unreachable
        for the run. A project page that lists nothing of its project is answered locally
        when local data exists (an index may really have emptied a project's page); otherwise
        pip gets the page as it came.
        """
        url = str(request.url)
        asked = self.recording.asked_for(url)
        if not (plausible.is_distribution_url(url) or self.chain.index_suffix(url) is not None):
            # A redirect led to what is neither a file nor a page of an index (a portal's
            # /login): answer for the link pip asked for; the host that sent us there is no
            # index either.
            origin = asked[-1]
            if origin != url:
                request = _local_request(request, origin)
                if host_of(origin) != host:
                    self._went_down(host_of(origin), doubt)
        if any(plausible.is_distribution_url(u) for u in asked):
            response.close()
            self._went_down(host, doubt)
            return self._answer_down(adapter, request, kwargs, host_of(str(request.url)), doubt)
        local = self._answer_failed(adapter, request, doubt, None)
        if local is not None:
            response.close()
            return local
        return response

    def _answer_down(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        kwargs: dict[str, Any],
        host: str,
        cause: Cause,
        exc: BaseException | None = None,
    ) -> Response:
        """The answer for a request to a route that is down: the primary's mirrors, then local
        sources; pip-ff's "no local copy" error when neither has it."""
        session_ref = adapter.__dict__.get("_pipff_session")
        session = session_ref() if session_ref is not None else None
        project = getattr(self._watch, "project", None)
        mirrored = self.chain.ask(session, request, kwargs, project)
        if mirrored is not None:
            response, mirror_url = mirrored
            try:
                local_page = self._page(request)
            except _UnreadablePage as unreadable:  # no comparison: never trust the mirror blindly
                logger.warning(
                    "pip-ff: can't read the local copy of %s to compare with %s (%s); using "
                    "local data",
                    compat.redact(str(request.url)),
                    compat.redact(mirror_url),
                    unreadable,
                )
            else:
                if not self.chain.contradicts(mirror_url, host, response, local_page):
                    self.report.mirror_used(mirror_url)
                    return response
            response.close()  # local data answers the whole page instead
        local = self._local_or_mirrored(adapter, request)
        if local is not None:
            return local
        self._note(Outcome(str(request.url), Source.FAILED, forced=True))
        raise self._no_local_copy(request, host, cause) from exc

    def _page(self, request: PreparedRequest) -> tuple[str, bytes] | None:
        """The local copy of a page (content type, body), for comparison only; None if none.
        :class:`_UnreadablePage` when there is one that can't be read."""
        answer = self.sources.lookup(request, None)
        if not isinstance(answer, Found):
            return None
        try:
            return str(answer.raw.headers.get("content-type", "")), answer.raw.read(
                decode_content=True
            )
        except OSError as exc:
            raise _UnreadablePage(repr(exc)) from exc
        except Exception as exc:
            bugs.unexpected(exc, "reading the local copy of a page")
            raise _UnreadablePage(repr(exc)) from exc
        finally:
            with contextlib.suppress(Exception):
                answer.raw.release_conn()

    def _answer_failed(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        cause: Cause,
        exc: BaseException | None,
    ) -> Response | None:
        """A URL the index answered badly after pip's retries: its local copy, said so; else
        pip-ff's "no local copy" error (for ``exc``) or None (pip gets the answer it had)."""
        local = self._local_or_mirrored(adapter, request)
        self.report.url_failed(str(request.url), str(cause), local=local is not None)
        if local is None:
            self._note(Outcome(str(request.url), Source.FAILED, forced=True))
            if exc is not None:
                raise compat.RequestsConnectionError(
                    f"pip-ff: {compat.redact(str(request.url))} failed after pip's retries "
                    f"({cause}) and there is no local copy",
                    request=request,
                ) from exc
        return local

    def _forced_local(
        self, adapter: HTTPAdapter, request: PreparedRequest, host: str, cause: Cause
    ) -> Response:
        local = self._local_or_mirrored(adapter, request)
        if local is not None:
            return local
        self._note(Outcome(str(request.url), Source.FAILED, forced=True))
        raise self._no_local_copy(request, host, cause)

    def _no_local_copy(self, request: PreparedRequest, host: str, cause: Cause) -> Exception:
        return compat.RequestsConnectionError(
            f"pip-ff: {compat.redact(host)} is unreachable ({cause}) and there is no local copy "
            f"of {compat.redact(str(request.url))}",
            request=request,
        )

    def _went_down(self, host: str, cause: Cause) -> None:
        first = self.outage.mark_down(host, cause)
        self.report.host_down(host, str(cause), announce=first)
        if first:
            childenv.hosts_down(self.outage.hosts)

    def late_connect(self) -> tuple[str, float | None] | None:
        """(route, pip's own connect timeout) while this thread's request has a connect
        deadline: a connect that misses it goes on that long in the background (late.py)."""
        return getattr(self._watch, "patience", None)

    def answer_wait(self) -> tuple[str, float | None] | None:
        """(the key of the route's first-byte times, this thread's request's first-byte
        deadline or None: pip's own wait), while a request of the engine's is in flight."""
        return getattr(self._watch, "answer", None)

    def connected(self, seconds: float) -> None:
        """urllib3 made a connection for this thread's request in ``seconds``."""
        hop = getattr(self._watch, "hop", None)
        if hop is not None:
            self.connect_times.seen(hop, seconds)

    # -- local answers -----------------------------------------------------------------------

    def _local_or_mirrored(self, adapter: HTTPAdapter, request: PreparedRequest) -> Response | None:
        """Local sources for ``request``; failing those, what was recorded from a fallback index
        for it (its links lead to the mirror's files, looked up locally in turn)."""
        local = self._local(adapter, request, forced=True)
        if local is not None or request.method != "GET":
            return local
        for url in self.chain.mirrored_urls(str(request.url)):
            local = self._local(adapter, _local_request(request, url), forced=True)
            if local is not None:
                return local
        return None

    def _local(
        self, adapter: HTTPAdapter, request: PreparedRequest, *, forced: bool
    ) -> Response | None:
        """A response built from local sources, or None. Never raises.

        Index pages (requests made while the finder, or serve, watches a page fetch) older
        than ``--max-stale`` are refused; distribution files never expire.
        """
        max_age = self.max_age(page=self._watching())
        answer = self.sources.lookup(request, max_age)
        url = str(request.url)
        if not isinstance(answer, Found):
            if answer is not None:
                self._note(Outcome(url, Source.TOO_OLD, answer.fetched, forced))
            return None
        self._note(Outcome(url, answer.source, answer.fetched, forced))
        self.report.file_served(url, answer.source, sha256=answer.sha256, path=answer.path)
        return compat.build_response(adapter, request, answer.raw)

    def expect_hashes(self, links: Iterable[Link]) -> None:
        """An index page lists these links: the record keeps only files that match their
        sha256 (see :meth:`Store.expect`)."""
        store = self.store
        if store is None:
            return
        for link in links:
            sha256 = compat.link_sha256(link)
            if sha256 is not None:
                store.expect(str(link.url), sha256)

    def max_age(self, *, page: bool) -> float | None:
        """How old local data may be to answer a request: ``--max-stale`` for an index page
        (``page``), no limit for a distribution file (its bytes never change)."""
        return self.settings.max_stale if page else None

    def share_recorded(self) -> None:
        """Every byte stored once: what this command recorded and pip's HTTP cache also keeps
        becomes one file (see :mod:`.sharing`)."""
        recorded = self.recording.take_committed()
        caches = self.sources.pip_caches.directories
        if recorded and caches and self.store is not None:
            sharing.share_with_pip_cache(self.store, caches[0], recorded)

    def local_file_served(self, url: str) -> None:
        """pip opened a file:// URL, for the report: a wheelhouse file, a wheel pip built
        earlier from an sdist (its wheel cache; told during a fallback), or a file pip was
        pointed at (a file:// index, a --find-links directory, a path)."""
        try:
            path = compat.url_to_path(url)
        except Exception:
            return
        real = os.path.realpath(path)
        directory = os.path.dirname(real)
        wheels = (
            os.path.realpath(os.path.join(self.wheel_cache_dir, "wheels"))
            if self.wheel_cache_dir
            else None
        )
        if any(os.path.realpath(d) == directory for d in self.sources.wheelhouse.directories):
            self.report.file_served(url, Source.WHEELHOUSE, path=path)
        elif wheels is not None and real.startswith(wheels + os.sep):
            if self.settings.mode is not Mode.AUTO or self.outage.hosts:
                # No request is made for such an sdist: the only trace of where it came from.
                self.report.file_served(url, Source.WHEEL_CACHE)
        else:
            self.report.file_served(url, Source.LOCAL_PATH)

    # -- the finder side ---------------------------------------------------------------------

    def _watching(self) -> bool:
        """Whether this thread's request is an index page's (``--max-stale`` applies)."""
        return getattr(self._watch, "outcomes", None) is not None and bool(
            getattr(self._watch, "page", True)
        )

    @contextlib.contextmanager
    def watching(self, project: str | None = None, *, page: bool = True) -> Iterator[list[Outcome]]:
        """Collect the outcomes of the requests made inside the block: one index page fetch of
        ``project`` (``page``), or a file's (then no ``--max-stale`` and no page check).

        The context is this thread's (pip's finder, or one of serve's request threads): what a
        request is for travels beside it, since pip's transport has no room for it.
        """
        outcomes: list[Outcome] = []
        previous = (
            getattr(self._watch, "outcomes", None),
            getattr(self._watch, "project", None),
            getattr(self._watch, "page", True),
        )
        self._watch.outcomes, self._watch.project = outcomes, project if page else None
        self._watch.page = page
        try:
            yield outcomes
        finally:
            self._watch.outcomes, self._watch.project, self._watch.page = previous

    def _note(self, outcome: Outcome) -> None:
        outcomes = getattr(self._watch, "outcomes", None)
        if outcomes is not None:
            outcomes.append(outcome)

    def refresh(self, urls: set[str]) -> bool:
        """prefer-offline: the local index data at ``urls`` can't satisfy a requirement; ask
        the index for them from now on. False when they were asked for already."""
        if urls <= self._refresh:
            return False
        self._refresh.update(urls)
        return True

    def available(self, finder: PackageFinder, link: Link, project: str) -> bool:
        """Whether pip could fetch this link (or use a wheel built from it) without the network."""
        return self.available_links(finder, [link], project)[0]

    def available_links(
        self, finder: PackageFinder, links: Sequence[Link], project: str
    ) -> list[bool]:
        """:meth:`available` for each of one index page's links, asked together (see
        :meth:`LocalSources.can_fetch`).

        With no pip command running, a program drives pip's resolver itself (pip-compile): it
        needs a candidate's metadata, never its file, so local PEP 658 metadata is enough.
        """
        return self.sources.can_fetch(
            links,
            lambda: compat.supported_tags(finder),
            project,
            self.wheel_cache_dir,
            metadata_enough=self.commands_running == 0,
        )

    def wheelhouse_links(self, project: str) -> list[Link]:
        return [
            compat.Link(compat.path_to_url(path))
            for path in self.sources.wheelhouse.files_for(project)
        ]


def _local_request(request: PreparedRequest, url: str) -> PreparedRequest:
    """A copy of ``request`` for another URL, only to look that URL up locally (never sent)."""
    local = request.copy()
    local.prepare_url(url, None)
    return local
