"""Local answers: the response local sources give for a request, and pip-ff's error when none.

The engine (:mod:`.engine`) decides that a request is answered locally; this module builds the
answer: pip's HTTP cache, the record, the wheelhouses, and what a fallback index answered for
the URL before, in that order (:meth:`LocalAnswers.local_or_mirrored`), each told to the report
and to the page fetch the calling thread watches (:class:`Context`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from pip_offline_fallback import compat, sharing
from pip_offline_fallback.causes import Cause
from pip_offline_fallback.hashing import copy_with_hashing
from pip_offline_fallback.outcomes import Outcome, Source
from pip_offline_fallback.sources import Found, LocalBody, LocalSources

if TYPE_CHECKING:
    from pip._internal.index.package_finder import PackageFinder
    from pip._internal.models.link import Link
    from pip._vendor.requests import PreparedRequest, Response
    from pip._vendor.requests.adapters import HTTPAdapter

    from pip_offline_fallback.report import Report


class Context(threading.local):
    """What the calling thread's request is for, beside it (pip's transport has no room for it):
    the page fetch watched (its outcomes, its project, whether it is a page at all), and the
    deadlines of the request in flight. Each thread sees its own values; these are defaults."""

    outcomes: list[Outcome] | None = None
    project: str | None = None
    page: bool = True
    hop: str | None = None  # where the request's connection goes: the proxy, if any
    patience: tuple[str, float | None] | None = None  # (route, pip's own connect timeout)
    answer: tuple[str, float | None] | None = None  # (route key, the first byte's deadline)

    def watching_page(self) -> bool:
        """Whether this thread's request is an index page's (``--max-stale`` applies)."""
        return self.outcomes is not None and self.page

    def note(self, outcome: Outcome) -> None:
        if self.outcomes is not None:
            self.outcomes.append(outcome)

    @contextlib.contextmanager
    def watching(self, project: str | None, *, page: bool) -> Iterator[list[Outcome]]:
        """Collect the outcomes of the requests made inside the block: one index page fetch of
        ``project`` (``page``), or a file's (then no ``--max-stale`` and no page check).

        The context is this thread's (pip's finder, or one of serve's request threads): what a
        request is for travels beside it, since pip's transport has no room for it.
        """
        outcomes: list[Outcome] = []
        previous = (self.outcomes, self.project, self.page)
        self.outcomes, self.project = outcomes, project if page else None
        self.page = page
        try:
            yield outcomes
        finally:
            self.outcomes, self.project, self.page = previous


class LocalAnswers:
    def __init__(
        self,
        sources: LocalSources,
        report: Report,
        context: Context,
        max_stale: float | None,
    ) -> None:
        self.sources = sources
        self.report = report
        self.context = context
        self.max_stale = max_stale

    def local(
        self, adapter: HTTPAdapter, request: PreparedRequest, *, forced: bool
    ) -> Response | None:
        """A response built from local sources, or None. Never raises.

        Index pages (requests made while the finder, or serve, watches a page fetch) older
        than ``--max-stale`` are refused; distribution files never expire.
        """
        max_age = self.max_stale if self.context.watching_page() else None
        answer = self.sources.lookup(request, max_age)
        url = str(request.url)
        if not isinstance(answer, Found):
            if answer is not None:
                self.context.note(Outcome(url, Source.TOO_OLD, answer.fetched, forced))
            return None
        self.context.note(Outcome(url, answer.source, answer.fetched, forced))
        self.report.file_served(url, answer.source, sha256=answer.sha256, path=answer.path)
        return compat.build_response(adapter, request, answer.raw)

    def page(self, request: PreparedRequest) -> tuple[str, bytes] | None:
        """The local copy of a page (content type, body), for comparison only; None if none.
        Raises what reading it raised."""
        answer = self.sources.lookup(request, None)
        if not isinstance(answer, Found):
            return None
        try:
            return str(answer.raw.headers.get("content-type", "")), answer.raw.read(
                decode_content=True
            )
        finally:
            with contextlib.suppress(Exception):
                answer.raw.release_conn()

    def local_or_mirrored(
        self, adapter: HTTPAdapter, request: PreparedRequest, mirrored: Sequence[str]
    ) -> Response | None:
        """Local sources for ``request``; failing those, what was recorded from a fallback index
        for it, at ``mirrored`` (the engine asks the chain where; its links lead to the
        mirror's files, looked up locally in turn)."""
        local = self.local(adapter, request, forced=True)
        if local is not None or request.method != "GET":
            return local
        for url in mirrored:
            local = self.local(adapter, local_request(request, url), forced=True)
            if local is not None:
                return local
        return None

    def forced(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        mirrored: Sequence[str],
        host: str,
        cause: Cause,
        exc: BaseException | None = None,
    ) -> Response:
        """The local answer to a request that can't go to ``host`` (``cause``, raised as
        ``exc``), or pip-ff's "no local copy" error; ``mirrored``: see
        :meth:`local_or_mirrored`."""
        local = self.local_or_mirrored(adapter, request, mirrored)
        if local is not None:
            return local
        self.context.note(Outcome(str(request.url), Source.FAILED, forced=True))
        raise no_local_copy(request, host, cause) from exc

    def instead_of_failure(
        self,
        adapter: HTTPAdapter,
        request: PreparedRequest,
        mirrored: Sequence[str],
        cause: Cause,
        exc: BaseException | None,
    ) -> Response | None:
        """A URL the index answered badly after pip's retries: its local copy (or a fallback
        index's, at ``mirrored``), said so; else pip-ff's "no local copy" error (for ``exc``)
        or None (pip gets the answer it had)."""
        local = self.local_or_mirrored(adapter, request, mirrored)
        self.report.url_failed(str(request.url), str(cause), local=local is not None)
        if local is None:
            self.context.note(Outcome(str(request.url), Source.FAILED, forced=True))
            if exc is not None:
                raise compat.RequestsConnectionError(
                    f"pip-ff: {compat.redact(str(request.url))} failed after pip's retries "
                    f"({cause}) and there is no local copy",
                    request=request,
                ) from exc
        return local

    def file_served(self, url: str, wheel_cache_dir: str | None, falling_back: bool) -> None:
        """pip opened a file:// URL, for the report: a wheelhouse file, a wheel pip built
        earlier from an sdist (its wheel cache; told while ``falling_back``), or a file pip
        was pointed at (a file:// index, a --find-links directory, a path)."""
        try:
            path = compat.url_to_path(url)
        except Exception:
            return
        real = os.path.realpath(path)
        directory = os.path.dirname(real)
        wheels = (
            os.path.realpath(os.path.join(wheel_cache_dir, "wheels")) if wheel_cache_dir else None
        )
        if any(os.path.realpath(d) == directory for d in self.sources.wheelhouse.directories):
            self.report.file_served(url, Source.WHEELHOUSE, path=path)
        elif wheels is not None and real.startswith(wheels + os.sep):
            if falling_back:
                # No request is made for such an sdist: the only trace of where it came from.
                self.report.file_served(url, Source.WHEEL_CACHE)
        else:
            self.report.file_served(url, Source.LOCAL_PATH)

    # -- what local data can answer, for the finder -------------------------------------------

    def can_fetch(
        self,
        finder: PackageFinder,
        links: Sequence[Link],
        project: str,
        wheel_cache_dir: str | None,
        metadata_enough: bool,
    ) -> list[bool]:
        """Whether pip could fetch each link (or use a wheel built from it) without the network
        (see :meth:`LocalSources.can_fetch`)."""
        return self.sources.can_fetch(
            links,
            lambda: compat.supported_tags(finder),
            project,
            wheel_cache_dir,
            metadata_enough=metadata_enough,
        )

    def wheelhouse_links(self, project: str) -> list[Link]:
        return [
            compat.Link(compat.path_to_url(path))
            for path in self.sources.wheelhouse.files_for(project)
        ]

    def expect_hashes(self, links: Iterable[Link]) -> None:
        """An index page lists these links: the record keeps only files that match their
        sha256 (see :meth:`Store.expect`)."""
        store = self.sources.store
        if store is None:
            return
        for link in links:
            sha256 = compat.link_sha256(link)
            if sha256 is not None:
                store.expect(str(link.url), sha256)

    def share_recorded(self, recorded: list[tuple[str, str]]) -> None:
        """Every byte stored once: what this command recorded and pip's HTTP cache also keeps
        becomes one file (see :mod:`.sharing`)."""
        caches = self.sources.pip_caches.directories
        if recorded and caches and self.sources.store is not None:
            sharing.share_with_pip_cache(self.sources.store, caches[0], recorded)

    # -- what serve offers and serves ----------------------------------------------------------

    def verified_body(
        self, url: str, authorization: str | None, expected: str | None
    ) -> tuple[LocalBody, bool] | None:
        """``url``'s local body as data (see :meth:`LocalSources.body`), and whether it is the
        file a page lists with sha256 ``expected`` (None: any)."""
        local = self.sources.body(url, authorization)
        if not isinstance(local, LocalBody):
            return None
        if expected is None or local.sha256 is not None:  # the record's is verified already
            return local, expected in (None, local.sha256)
        sha256 = copy_with_hashing(local.file)[0]
        local.file.seek(0)
        return local, sha256 == expected

    def intact(
        self, url: str, expected: str | None, authorization: Callable[[str], str | None]
    ) -> bool:
        """Whether a local source holds ``url``'s file as its page lists it (sha256
        ``expected``): a copy in the record or a wheelhouse that verifies (its recorded sha256,
        and the page's), or one in pip's HTTP cache (no hash kept there: checked when it is
        served). ``authorization(url)``, the header sent to ``url``, is asked only for a file
        some source holds: working it out costs more than the rest of the check."""
        if not (self.sources.has(url) or self.sources.wheelhouses.has(url)):
            return False
        found = self.verified_body(url, authorization(url), expected)
        if found is not None:
            local, matches = found
            local.file.close()
            return matches
        return self.sources.pip_caches.has(url)


def no_local_copy(request: PreparedRequest, host: str, cause: Cause) -> Exception:
    return compat.RequestsConnectionError(
        f"pip-ff: {compat.redact(host)} is unreachable ({cause}) and there is no local copy "
        f"of {compat.redact(str(request.url))}",
        request=request,
    )


def local_request(request: PreparedRequest, url: str) -> PreparedRequest:
    """A copy of ``request`` for another URL, only to look that URL up locally (never sent)."""
    local = request.copy()
    local.prepare_url(url, None)
    return local
