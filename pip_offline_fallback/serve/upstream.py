"""Serve's upstream: every question to the index goes here, through pip-ff's engine.

Serve asks through a pip session built from pip's own configuration (index URL, proxies,
certificates, ``--trusted-host``, netrc and keyring credentials), with pip-ff injected: the very
path ``pip-ff install`` takes. So online a page or file is fetched and recorded as an install
would record it, and with the index unreachable the engine answers from the record, pip's HTTP
cache, the wheelhouses and the fallback mirrors, with install's rules for outages, 5xx, 429,
TLS failures and portals.

What a request is for (the project, page or file) is said explicitly to the engine through
:meth:`Engine.watching` on the request's own thread: the portal check and ``--max-stale`` need it.

An outage lasts for a command's run; a server runs for days, so a route found down is asked
again after :data:`RETRY_AFTER` seconds. Each outage is logged once when it starts, and once
when the index answers again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from pip_offline_fallback import compat
from pip_offline_fallback.causes import describe
from pip_offline_fallback.config import Settings
from pip_offline_fallback.deadline import timeout_on_command_line
from pip_offline_fallback.engine import Engine
from pip_offline_fallback.outcomes import Outcome, Source
from pip_offline_fallback.serve import freshness
from pip_offline_fallback.serve.credentials import (
    asks_with_credentials,
    mirror_authorization,
    mirror_urls,
    without_credentials,
)
from pip_offline_fallback.serve.origins import FilePolicy
from pip_offline_fallback.serve.pages import FileLink, PageError, ProjectPage, parse
from pip_offline_fallback.serve.provenance import PageAnswer, Provenance
from pip_offline_fallback.urls import host_of, url_key

if TYPE_CHECKING:
    from pip._vendor.requests import Response

    from pip_offline_fallback.engine import Authorization

logger = logging.getLogger(__name__)

RETRY_AFTER = 30.0
# What serve asks upstream for: pip's own Accept (JSON first; HTML pages are parsed too).
PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
_PAGE_MEMO = 512  # project pages kept in memory to map a file name to its upstream URL


class _ServeSaysOutages(logging.Filter):
    """Serve says each outage itself, when it starts and when it ends (install's one line per
    run would make two lines for the first outage, and none for the next)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "continuing from local sources" not in str(record.msg)


class Refused(Exception):
    """A URL serve won't fetch (see :mod:`.origins`); the message says why in one line."""


class UpstreamError(Exception):
    """No answer: ``status`` is what serve says to its client (401/403/404 passed through,
    502/503); ``logged``: serve's log has said it already."""

    def __init__(self, status: int, message: str, *, logged: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.logged = logged


class Upstream:
    def __init__(
        self, settings: Settings, pip_args: list[str], *, agent_file: str | None = None
    ) -> None:
        """``agent_file``: where pip's User-Agent is kept between starts (compat/agent.py)."""
        from pip_offline_fallback import inject, running
        from pip_offline_fallback.compat.agent import kept_user_agent
        from pip_offline_fallback.compat.deferred import defer

        defer()  # what pip's command base imports and serve never uses (compat/deferred.py)
        # pip's session only: serve runs no pip command, finder or resolver (inject_session).
        if not inject.inject_session(settings):
            raise UpstreamError(500, "pip can't be hooked; see the warning above")
        engine = running.active_engine()
        assert engine is not None
        self.engine: Engine = engine
        # As inject does for pip's Command._main: --timeout given to serve (or run) is the
        # user's word, never shortened by the connect deadline.
        engine.timeout_chosen = timeout_on_command_line(pip_args)
        report_log = logging.getLogger("pip_offline_fallback.report")
        if not any(isinstance(f, _ServeSaysOutages) for f in report_log.filters):
            report_log.addFilter(_ServeSaysOutages())
        # Parsed as pip download parses them; --no-input: a server has no terminal to ask for a
        # password on.
        command, options = compat.session_command([*pip_args, "--no-input"])
        if options.cache_dir:  # as pip's Command._main does
            options.cache_dir = os.path.abspath(os.path.expanduser(options.cache_dir))
        with kept_user_agent(agent_file) as kept:
            self.session = compat.build_session(command, options)
        if kept is not None:
            kept.check_later(self.session)
        if engine.store is not None:
            # A file serve has answered is in the record, for whoever reads it next (another
            # pip-ff, `store info`): serve files each body before it answers the last byte.
            engine.store.file_in_place()
        auth = getattr(self.session, "auth", None)
        if auth is not None and hasattr(auth, "prompting"):
            auth.prompting = False
        # Keyring, asked without prompts where pip with a terminal would ask it (compat).
        provider = compat.keyring_without_prompts(self.session)
        if provider is not None:
            logger.info("pip-ff serve: asking keyring (%s) for credentials", provider)
        index_url = str(options.index_url)
        self.index_url = index_url.rstrip("/") + "/"
        self.public_index = compat.redact(self.index_url)
        self.extra_index_urls = [str(u) for u in (options.extra_index_urls or [])]
        self._request_base = without_credentials(self.index_url)
        # The fallback mirrors serve this index while it is down (their URLs may hold their own
        # credentials, never logged): their answers are served too.
        self.mirror_urls = mirror_urls(settings.fallback_index_urls)
        self.files_from = FilePolicy([self._request_base, *self.mirror_urls])
        self._refused: dict[tuple[str, str], str] = {}  # (project, file name) -> why
        self._pages: dict[str, ProjectPage] = {}
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._announced: dict[str, str] = {}
        self._missing_said: set[str] = set()  # projects said to be missing, this outage
        self._said: set[str] = set()  # refusals said once
        # The index's page freshness last seen (0 until one is seen): bounds a local page's.
        self._index_max_age: int | None = 0

    @property
    def needs_credentials(self) -> bool:
        """Whether pip's session asks the index with credentials of any kind: then another
        local user must not get its answers (see serve's token)."""
        return asks_with_credentials(self.session, self.index_url) or any(
            asks_with_credentials(None, url) for url in self.mirror_urls
        )

    # -- outages -------------------------------------------------------------------------------

    def _before(self) -> None:
        """Ask a route found down again once it has been down for RETRY_AFTER seconds; record
        again if a prune made the store give up."""
        store = self.engine.store
        if store is not None:
            store.resume_recording()
        with self._lock:
            since = self._down_since
            waited = since is not None and time.monotonic() - since >= RETRY_AFTER
            if waited and self.engine.routes_down():
                self.engine.forget_outages()
                self._down_since = None

    def _after(self, outcomes: list[Outcome]) -> None:
        # What connects taught is kept as install keeps it (at its end; a serve runs for
        # days): written only when a route was seen to connect slowly (deadline.py).
        self.engine.connect_times.save()
        down = self.engine.routes_down()
        with self._lock:
            if down and self._down_since is None:
                self._down_since = time.monotonic()
            for host, cause in down.items():
                if self._announced.get(host) != cause:
                    self._announced[host] = cause
                    logger.warning(
                        "pip-ff serve: %s is unreachable (%s); answering from local sources",
                        compat.redact(host),
                        cause,
                    )
            if not down and self._announced and any(not o.forced for o in outcomes):
                for host in self._announced:
                    logger.warning("pip-ff serve: %s answers again", compat.redact(host))
                self._announced.clear()
                self._missing_said.clear()

    def _get(
        self, url: str, project: str | None, *, page: bool, **kwargs: Any
    ) -> tuple[Response, Provenance]:
        self._before()
        with self.engine.watching(project, page=page) as outcomes:
            try:
                response = self.session.get(url, hooks={"response": [self._hop]}, **kwargs)
            except Refused as exc:
                self._after(outcomes)
                self._say_once(f"pip-ff serve: not served: {exc}")
                raise UpstreamError(403, str(exc), logged=True) from None
            except Exception as exc:
                self._after(outcomes)
                if page and project is not None and self._missing(project, outcomes):
                    raise UpstreamError(404, self._missing_text(project)) from None
                raise UpstreamError(503, self._failure_text(exc)) from None
        self._after(outcomes)
        # The answer's source: the last outcome that served something. None did (the engine
        # found no local answer for a doubtful one): the response is the index's own.
        served = [o for o in outcomes if o.source.served]
        last = served[-1] if served else Outcome(url, Source.NETWORK)
        provenance = Provenance(last.source, last.fetched)
        return response, provenance if provenance.local else Provenance(last.source)

    def _say_once(self, line: str) -> None:
        with self._lock:
            if line in self._said:
                return
            self._said.add(line)
            if len(self._said) > _PAGE_MEMO:
                self._said.clear()  # a bound, not a rule: a line may then be said again
        logger.warning("%s", line)

    def _index_cause(self) -> str | None:
        """Why the index can't be reached (None: it isn't down)."""
        down = self.engine.routes_down()
        return down.get(host_of(self._request_base)) or next(iter(down.values()), None)

    def _missing(self, project: str, outcomes: list[Outcome]) -> bool:
        """Whether a page request failed because the index is down and nothing local is known
        of ``project`` (a local page refused as too old by --max-stale is not "nothing")."""
        return self._index_cause() is not None and not any(
            o.source == Source.TOO_OLD for o in outcomes
        )

    def _missing_text(self, project: str) -> str:
        """The 404's reason, in plain words; logged once per project per outage."""
        message = (
            f"{self.public_index} can't be reached ({self._index_cause()}), and there is no "
            f"local copy of {project}'s page"
        )
        with self._lock:
            first = project not in self._missing_said
            self._missing_said.add(project)
        if first:
            logger.warning("pip-ff serve: %s: not found (%s)", project, message)
        return message

    def _failure_text(self, exc: BaseException) -> str:
        """One plain line for a failed request (no exception reprs, no credentials)."""
        cause = self._index_cause()
        if cause is not None:
            return f"{self.public_index} can't be reached ({cause}), and there is no local copy"
        return f"{self.public_index}: {describe(exc)}"

    def _hop(self, response: Response, *args: Any, **kwargs: Any) -> Response:
        """Every answer on the way, redirects included: a redirect serve must not follow (to
        ``file:``, to another service of this machine) ends the request."""
        if response.is_redirect:
            target = urllib.parse.urljoin(response.url, response.headers.get("location", ""))
            why = self.files_from.refusal(target)
            if why is not None:
                response.close()
                raise Refused(f"{url_key(response.url)} redirected to {why}")
        return response

    def close(self) -> None:
        """The serve ends: what late connects still teach is kept too (as install's end)."""
        from pip_offline_fallback.late import settle

        settle()
        self.engine.connect_times.save()

    # -- pages ---------------------------------------------------------------------------------

    def page(self, project: str) -> PageAnswer:
        """``project``'s page from the index (or, when it can't be reached, local data)."""
        url = self._request_base + urllib.parse.quote(project) + "/"
        headers = {"Accept": PAGE_ACCEPT, "Cache-Control": "max-age=0"}
        response, provenance = self._get(url, project, page=True, headers=headers)
        with response:
            status = response.status_code
            if status != 200:
                raise UpstreamError(
                    _passed_on(status), f"{self.public_index} answered {status} for {project}"
                )
            body = response.content
            content_type = response.headers.get("content-type", "")
            if provenance.source is Source.NETWORK:
                max_age = freshness.index_max_age(response.headers)
                self._index_max_age = max_age
            else:  # the index is down: local data or a fallback mirror's page
                max_age = freshness.offline(self._index_max_age)
            if not provenance.local:
                # The engine's own check (it found no local answer to put in its place).
                doubt = self.engine.doubt(response.request, response, project)
                if doubt is not None:
                    raise UpstreamError(502, f"{self.public_index} {doubt}")
            try:
                parsed = parse(body, content_type, str(response.url), project)
            except PageError as exc:
                raise UpstreamError(502, f"{self.public_index}: {exc}") from None
        parsed = parsed.with_files(self._fetchable(project, parsed.files))
        store = self.engine.store
        if store is not None:
            # As install's finder does: the record keeps only bodies that match the page's
            # hashes, and a recorded copy that contradicts them gives way to the index's.
            for link in parsed.files:
                if link.sha256:
                    store.expect(link.url, link.sha256)
                if link.metadata_sha256:
                    store.expect(link.url + ".metadata", link.metadata_sha256)
        with self._lock:
            self._pages.pop(project, None)
            self._pages[project] = parsed
            while len(self._pages) > _PAGE_MEMO:
                self._pages.pop(next(iter(self._pages)))
        return PageAnswer(parsed, provenance, max_age)

    def _fetchable(self, project: str, files: tuple[FileLink, ...]) -> list[FileLink]:
        """The page's files serve may fetch; each one left out is remembered, and said once."""
        kept = []
        for link in files:
            why = self.files_from.refusal(link.url)
            if why is None:
                kept.append(link)
                continue
            key = (project, link.filename)
            with self._lock:
                said = self._refused.get(key) == why
                self._refused[key] = why
                while len(self._refused) > _PAGE_MEMO:
                    self._refused.pop(next(iter(self._refused)))
            if not said:
                logger.warning(
                    "pip-ff serve: %s: not serving %s, its page names %s",
                    project,
                    link.filename,
                    why,
                )
        return kept

    def refused(self, project: str, filename: str) -> str | None:
        """Why a file the page names was left out of it (None: it wasn't)."""
        with self._lock:
            return self._refused.get((project, filename))

    def known_page(self, project: str) -> ProjectPage:
        """The page last seen for ``project`` (asked for when there is none yet)."""
        with self._lock:
            known = self._pages.get(project)
        return known if known is not None else self.page(project).page

    def lists(self, project: str) -> bool:
        """Whether ``project`` is one of this serve's: its page, from the index or one of its
        mirrors, is in the record for the credentials this serve asks that URL with (so
        ``/simple/`` names no project recorded from another index, or with other
        credentials)."""
        store = self.engine.store
        if store is None:
            return False
        suffix = urllib.parse.quote(project) + "/"
        pages = [(self._request_base + suffix, self.authorization(self._request_base + suffix))]
        for mirror in self.mirror_urls:
            url = without_credentials(mirror).rstrip("/") + "/" + suffix
            pages.append((url, mirror_authorization(mirror, url)))
        return any(store.lookup(url, store.identity(auth)) is not None for url, auth in pages)

    # -- files ---------------------------------------------------------------------------------

    def authorization(self, url: str) -> str | None:
        """The Authorization header pip's session would send to ``url`` (the record files
        what was fetched with credentials under their keyed digest)."""
        from pip_offline_fallback.serve import credentials

        return credentials.authorization(self.session, url)

    def authorizations(self) -> Authorization:
        """:meth:`authorization` for the files of one page, with the same answers: pip's
        session asked once per credential scope, not once per file."""
        from pip_offline_fallback.serve import credentials

        return credentials.PageAuthorizations(self.session)

    def fetch(self, url: str) -> tuple[Response, Provenance]:
        """A file (or its metadata) by its upstream URL, streamed; recorded as it is read."""
        response, provenance = self._get(
            url, None, page=False, stream=True, headers={"Accept-Encoding": "identity"}
        )
        if response.status_code != 200:
            status = response.status_code
            response.close()
            raise UpstreamError(_passed_on(status), f"the index answered {status}")
        return response, provenance


def _passed_on(status: int) -> int:
    """What serve answers for the index's status: 401, 403 and 404 are passed on (410 as 404:
    gone is not found), so installers report them as the index's; anything else is a 502."""
    if status == 410:
        return 404
    return status if status in (401, 403, 404) else 502
