"""Recording what pip receives online: bodies into the record as pip reads them, and redirects.

A body with a length is tapped as pip streams it (:class:`.BodyTee`: written and hashed once,
committed when complete); a page without one is recorded once pip has read it. A link that
redirected (to a CDN, a pre-signed URL) is recorded under its own URL too, so that it resolves
offline to the same verified body.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from typing import TYPE_CHECKING

from pip_offline_fallback import compat
from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.report import Report
from pip_offline_fallback.sources import LocalSources
from pip_offline_fallback.tee import BodyTee, Spare
from pip_offline_fallback.urls import url_key

if TYPE_CHECKING:
    from typing import IO

    from pip._vendor.requests import PreparedRequest, Response

logger = logging.getLogger(__name__)


class Recording:
    def __init__(self, sources: LocalSources, report: Report) -> None:
        self._sources = sources
        self._report = report
        # Redirect targets (URL keys) not yet recorded -> the links that led there.
        self._redirects: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        # (URL, sha256) of each body recorded since the last take_committed().
        self._committed_bodies: list[tuple[str, str]] = []

    def identity(self, request: PreparedRequest) -> str | None:
        """Who asked: a record made with credentials answers only the same credentials."""
        record = self._sources.record
        return record.identity(request) if record is not None else None

    def received(
        self,
        request: PreparedRequest,
        response: Response,
        source: Source,
        *,
        stream: bool,
    ) -> None:
        """pip gets ``response`` from the network (``source``: pip's cache, a fallback index or
        the index): told to the report, and recorded when it is a fresh 200 of a whole GET;
        a redirect is remembered (see :meth:`asked_for`)."""
        url = str(request.url)
        if request.method == "GET" and response.status_code == 200:
            self._report.file_served(url, source)
            if source is not Source.PIP_CACHE and "range" not in request.headers:
                self.record(request, response, stream=stream)
        elif request.method == "GET" and response.is_redirect:
            self.redirected(url, response)

    def record(self, request: PreparedRequest, response: Response, *, stream: bool) -> None:
        """Record ``response`` (a fresh 200 of a GET). A transfer that drops short is finished
        from the record's copy of the same URL, if it holds one (same bytes as far as they
        came): looked up only then, not for every response."""
        store = self._sources.store
        if store is None:
            return
        url = str(request.url)
        try:
            identity = self.identity(request)
            filed = self._filed_as(url)
            length = response.headers.get("content-length")
            consumed = getattr(response, "_content_consumed", False)  # read by the doubt check
            stream_ = compat.body_stream(response.raw)
            if length is not None and not consumed and stream_ is not None:
                expected = int(length)
                recorder = store.recorder(filed, response.headers, identity, size=expected)
                # Without a recorder, a tap only for a spare the record holds now.
                if recorder is not None or store.has(url):
                    tee = BodyTee(
                        stream_,
                        recorder,
                        expected,
                        lambda sha256: self._committed(url, filed, sha256, identity),
                        self._spare(url, identity),
                    )
                    compat.replace_body_stream(response.raw, tee)
            elif consumed or not stream:
                # A page already read, or one with no length (chunked): pip reads the whole
                # page anyway; keep it decoded.
                content = response.content
                headers = {
                    k: v for k, v in response.headers.items() if k.lower() != "content-encoding"
                }
                recorder = store.recorder(filed, headers, identity, size=len(content))
                if recorder is not None:
                    recorder.write(content)
                    recorder.commit()
                    if recorder.sha256:
                        self._committed(url, filed, recorder.sha256, identity)
        except Exception as exc:  # the record is never worth failing the install for
            logger.warning("pip-ff: not recording %s: %r", compat.redact(url), exc)

    def _spare(self, url: str, identity: str | None) -> Spare:
        def spare() -> tuple[IO[bytes], int] | None:
            store = self._sources.store
            entry = store.lookup(url, identity) if store is not None else None
            body = store.open_verified(entry) if store is not None and entry else None
            if entry is None or body is None:
                return None
            # The same bytes as far as they came: the file pip gets is the one the index sent.
            self._report.url_failed(url, "connection dropped mid-transfer", local=True)
            self._report.file_served(url, Source.RECORD, sha256=entry.sha256)
            return body, entry.size

        return spare

    def _filed_as(self, url: str) -> str:
        """The URL a body is recorded under: its own, except for a redirect target with a query
        (a pre-signed URL: its signature is a credential, and useless once expired), which is
        filed under the link that led there."""
        if "?" not in url:
            return url
        with self._lock:
            sources = self._redirects.get(url_key(url))
        return sources[0] if sources else url

    def _committed(self, url: str, filed: str, sha256: str, identity: str | None) -> None:
        """A body of ``url`` is in the record (under ``filed``): for the report, and for the
        links that redirected to it (filed under their own URL too, to resolve offline)."""
        self._report.file_hashed(url, sha256)
        with self._lock:
            self._committed_bodies.append((url, sha256))
            sources = self._redirects.pop(url_key(url), [])
        store = self._sources.store
        for source in sources:
            recorded = source == filed or (
                store is not None and store.alias(source, filed, identity)
            )
            if recorded:
                self._committed(source, source, sha256, identity)

    def take_committed(self) -> list[tuple[str, str]]:
        """The (URL, sha256) of each body recorded since the last call."""
        with self._lock:
            taken, self._committed_bodies = self._committed_bodies, []
        return taken

    def asked_for(self, url: str) -> list[str]:
        """``url``, then each link that redirected to it in this run (not yet recorded), the
        link pip asked for last: what an answer from ``url`` must be able to be."""
        found = [url]
        seen = {url_key(url)}
        with self._lock:
            for asked in found:  # grows as it goes: a chain of redirects
                for source in self._redirects.get(url_key(asked), []):
                    if url_key(source) not in seen:
                        seen.add(url_key(source))
                        found.append(source)
        return found

    def redirected(self, url: str, response: Response) -> None:
        """A link answered with a redirect (a CDN, a pre-signed URL): remember where it led."""
        location = response.headers.get("location")
        if location:
            target = url_key(urllib.parse.urljoin(url, location))
            with self._lock:
                self._redirects.setdefault(target, []).append(url)
