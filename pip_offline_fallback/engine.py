"""The fallback engine: per request, the network or a local answer; per project, local candidates.

The engine decides (is the route down, what does the mode allow, which source answers); others
answer its questions: the route rule (:mod:`.outage`), the checks on an answer that came
(:mod:`.checks`) and the local answers (:mod:`.answers`). The transport adapter hands every
request of pip's session to :meth:`Engine.send`; the finder hooks watch each page fetch and ask
:meth:`Engine.available`; serve asks what a page offers and which routes to ask again.

Thread safety: ``pip-ff serve`` calls :meth:`Engine.send` from many threads at once. What a
request is for is the calling thread's own (:class:`Context`), as are the adapter's retry
override and the chain's attempt; the outage, the report, the recording, the store and the
local sources lock what they share. ``_refresh``, ``listing_only`` and ``commands_running``
belong to pip commands (one thread).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Callable

from pip_offline_fallback import causes, checks, childenv, compat
from pip_offline_fallback.answers import Context, LocalAnswers, local_request, no_local_copy
from pip_offline_fallback.causes import Cause
from pip_offline_fallback.chain import MirrorChain
from pip_offline_fallback.config import Mode, Settings
from pip_offline_fallback.deadline import ConnectTimes
from pip_offline_fallback.outage import (
    NETWORK_ERRORS,
    PIPS,
    ROUTE,
    Outage,
    judge,
    judge_answer,
    proxy_route,
    waits,
)
from pip_offline_fallback.outcomes import Outcome, Source
from pip_offline_fallback.recording import Recording
from pip_offline_fallback.report import VERBOSE, Report
from pip_offline_fallback.sources import LocalBody, LocalSources
from pip_offline_fallback.store import Store
from pip_offline_fallback.urls import host_of

if TYPE_CHECKING:
    from pip._internal.index.package_finder import PackageFinder
    from pip._internal.models.link import Link
    from pip._vendor.requests import PreparedRequest, Response
    from pip._vendor.requests.adapters import HTTPAdapter

    from pip_offline_fallback.pages import FileLink

logger = logging.getLogger(__name__)


# pip's send, as the adapter hands it over: (request, kwargs, fast) -> response. ``fast``: this
# request has a local answer to fall back on, so connections that can't be made aren't retried.
Send = Callable[["PreparedRequest", "dict[str, Any]", bool], "Response"]
Authorization = Callable[[str], "str | None"]  # the Authorization header sent to a URL
Watching = contextlib.AbstractContextManager["list[Outcome]"]


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
        # Whether the record holds anything from a host; None: no record this run.
        self.report.record_knows = lambda host: (
            None if self.store is None else self.store.knows_host_of(host)
        )
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
        # Per thread: the page fetch watched (outcomes, project), and the route (first hop) and
        # the deadlines of the request in flight, for connected() and late.py.
        self.context = Context()
        self.answers = LocalAnswers(self.sources, self.report, self.context, settings.max_stale)
        # pip commands (Command._main) running in this process (see available()).
        self.commands_running = 0

    @property
    def store(self) -> Store | None:
        return self.sources.store

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

    # -- the transport side ------------------------------------------------------------------

    def send(
        self, adapter: HTTPAdapter, send: Send, request: PreparedRequest, kwargs: dict[str, Any]
    ) -> Response:
        """The answer to one request of pip's session: the network's, or a local one."""
        url = str(request.url)
        if request.method not in ("GET", "HEAD") or not url.startswith(("http://", "https://")):
            return send(request, kwargs, False)
        host = host_of(url)
        proxy = compat.select_proxy(url, kwargs.get("proxies"))
        via = proxy_route(host_of(proxy)) if proxy else None
        asking_mirror = self.chain.asking
        # Where a fallback index filed this page, should it be answered locally (see chain.py).
        mirrored = self.chain.mirrored_urls(url)
        if self.settings.mode is Mode.OFFLINE:
            return self.answers.forced(adapter, request, mirrored, host, causes.OFFLINE)
        cause = self.outage.cause(host, via)
        if cause is not None:  # the route is down for the run
            if asking_mirror:
                raise no_local_copy(request, host, cause)
            return self._answer_down(adapter, request, mirrored, kwargs, host, cause)
        if self.settings.mode is Mode.PREFER_OFFLINE and url not in self._refresh:
            local = self.answers.local(adapter, request, forced=False)
            if local is not None:
                return local
        # A host pip-ff recorded anything from gets the fast path for every URL: a page never
        # recorded (one the index did not have) would otherwise wait through pip's retries.
        # The host's marker first: one memo look-up per host, where has() looks in pip's cache
        # and the record for each URL (a short transfer's spare is looked up when it happens).
        fast = asking_mirror or self.sources.knows_host_of(url) or self.sources.has(url)
        hop = via or host  # what a connection is made to: the proxy, if there is one
        timed = waits(
            self.connect_times, kwargs, self.settings, host, hop, fast, self.timeout_chosen
        )
        context = self.context
        context.hop, context.patience, context.answer = hop, timed.patience, timed.answer
        started = time.monotonic()
        try:
            response = send(request, timed.kwargs, fast)
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
                return self._answer_down(
                    adapter, request, mirrored, timed.kwargs, host, failed.cause, exc
                )
            local = self.answers.instead_of_failure(adapter, request, mirrored, failed.cause, exc)
            if local is None:  # not reached: with an exception, no local copy raises
                raise
            return local
        finally:
            context.hop = context.patience = context.answer = None
        return self._answered(adapter, request, mirrored, timed.kwargs, response, host, via)

    def _answered(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        mirrored: Sequence[str],
        kwargs: dict[str, Any],
        response: Response,
        host: str,
        via: str | None,
    ) -> Response:
        """What pip gets for a response: it, or a local answer when the response is no answer."""
        url = str(request.url)
        asking_mirror = self.chain.asking
        status = response.status_code
        failed = judge_answer(
            status, strict=self.settings.strict, via=via, plain_http=url.startswith("http://")
        )
        if failed is not None and failed.down is not None:  # the proxy can't reach the index
            self._went_down(failed.down, failed.cause)
            if asking_mirror:
                return response
            response.close()
            return self._answer_down(adapter, request, mirrored, kwargs, host, failed.cause)
        if failed is not None and not asking_mirror:
            local = self.answers.instead_of_failure(adapter, request, mirrored, failed.cause, None)
            if local is not None:
                response.close()
                return local
            return response
        from_cache = bool(getattr(response, "from_cache", False))
        if request.method == "GET" and status == 200 and not from_cache:
            doubt = checks.doubt(self.recording, self.chain, url, response, self.context.project)
            if doubt is not None:
                if asking_mirror:
                    return response  # the chain weighs it; never recorded
                return self._doubted(adapter, request, doubt, kwargs, response, host)
        source = Source.FALLBACK_INDEX if host in self.chain.hosts else Source.NETWORK
        self.context.note(Outcome(url, source))
        source = Source.PIP_CACHE if from_cache else source
        stream = bool(kwargs.get("stream"))
        self.recording.received(request, response, source, stream=stream)
        return response

    def doubt(
        self, request: PreparedRequest, response: Response, project: str | None
    ) -> str | None:
        """Why a 200 answer can't be what was asked (see :func:`checks.doubt`), for a caller
        with no finder (serve), which says what it asked for."""
        doubt = checks.doubt(self.recording, self.chain, str(request.url), response, project)
        return None if doubt is None else doubt.why

    def _doubted(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        doubt: checks.Doubt,
        kwargs: dict[str, Any],
        response: Response,
        host: str,
    ) -> Response:
        """An answer that can't be what was asked: never recorded; local data answers instead.

        An HTML page where a file was asked is no index at all: the host counts as unreachable
        for the run. A project page that lists nothing of its project is answered locally
        when local data exists (an index may really have emptied a project's page); otherwise
        pip gets the page as it came.
        """
        cause = causes.doubt(doubt.why)
        if doubt.portal is not None:
            self._went_down(doubt.portal, cause)
        url = doubt.answer_for
        if url != str(request.url):
            request = local_request(request, url)
        mirrored = self.chain.mirrored_urls(url)
        if doubt.file_asked:
            response.close()
            self._went_down(host, cause)
            return self._answer_down(adapter, request, mirrored, kwargs, host_of(url), cause)
        local = self.answers.instead_of_failure(adapter, request, mirrored, cause, None)
        if local is not None:
            response.close()
            return local
        return response

    def _answer_down(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        mirrored: Sequence[str],
        kwargs: dict[str, Any],
        host: str,
        cause: Cause,
        exc: BaseException | None = None,
    ) -> Response:
        """The answer for a request to a route that is down: the primary's mirrors, then local
        sources (and at ``mirrored``, what a mirror answered before); pip-ff's "no local copy"
        error when neither has it."""
        session_ref = adapter.__dict__.get("_pipff_session")
        session = session_ref() if session_ref is not None else None
        answered = self.chain.ask(session, request, kwargs, self.context.project)
        if answered is not None:
            response, mirror_url = answered
            if not checks.mirror_clashes(
                self.chain, self.answers, request, host, response, mirror_url
            ):
                self.report.mirror_used(mirror_url)
                return response
            response.close()  # local data answers the whole page instead
        return self.answers.forced(adapter, request, mirrored, host, cause, exc)

    def _went_down(self, host: str, cause: Cause) -> None:
        first = self.outage.mark_down(host, cause)
        self.report.host_down(host, str(cause), announce=first)
        if first:
            childenv.hosts_down(self.outage.hosts)

    def connected(self, seconds: float) -> None:
        """urllib3 made a connection for this thread's request in ``seconds``."""
        hop = self.context.hop
        if hop is not None:
            self.connect_times.seen(hop, seconds)

    def expect_hashes(self, links: Iterable[Link]) -> None:
        """An index page lists these links: the record keeps only files that match their
        sha256 (see :meth:`LocalAnswers.expect_hashes`)."""
        self.answers.expect_hashes(links)

    def share_recorded(self) -> None:
        """Every byte stored once (see :meth:`LocalAnswers.share_recorded`)."""
        self.answers.share_recorded(self.recording.take_committed())

    def local_file_served(self, url: str) -> None:
        """pip opened a file:// URL: told to the report (see :meth:`LocalAnswers.file_served`)."""
        falling_back = self.settings.mode is not Mode.AUTO or bool(self.outage.hosts)
        self.answers.file_served(url, self.wheel_cache_dir, falling_back)

    # -- serve's questions: what a page offers, which body is intact, which routes are down

    def offered(self, files: Iterable[FileLink], authorization: Authorization) -> list[FileLink]:
        """Of a page answered locally, the files local sources hold intact (an installer never
        picks a version it can't fetch); ``authorization``: the header sent to a URL, asked only
        for a file some local source holds (most files of a page are versions never fetched)."""
        return [f for f in files if self.answers.intact(f.url, f.sha256, authorization)]

    def local_body(
        self, url: str, authorization: str | None, sha256: str | None
    ) -> tuple[LocalBody, bool] | None:
        """``url``'s local body, and whether it is the file listed with ``sha256``."""
        return self.answers.verified_body(url, authorization, sha256)

    def forget_outages(self) -> None:
        """Every route is asked again (serve runs for days; an outage is a command's run)."""
        self.outage.clear()

    def routes_down(self) -> dict[str, str]:
        """Each route found down (a host, or ``proxy URL``), with its cause in words."""
        return self.outage.hosts

    def projects(self) -> list[str]:
        """The projects the record holds files of (none with no record)."""
        return self.store.projects() if self.store is not None else []

    # -- the finder side ---------------------------------------------------------------------

    def watching(self, project: str | None = None, *, page: bool = True) -> Watching:
        """Collect the outcomes of this thread's requests inside the block (see
        :meth:`Context.watching`): one index page fetch of ``project``, or a file's."""
        return self.context.watching(project, page=page)

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
        """:meth:`available` for each of one index page's links, asked together. With no pip
        command running, a program drives pip's resolver itself (pip-compile): it needs a
        candidate's metadata, never its file, so local PEP 658 metadata is enough."""
        metadata_enough = self.commands_running == 0
        return self.answers.can_fetch(finder, links, project, self.wheel_cache_dir, metadata_enough)

    def wheelhouse_links(self, project: str) -> list[Link]:
        return self.answers.wheelhouse_links(project)
