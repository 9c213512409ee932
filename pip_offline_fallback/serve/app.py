"""Serve's WSGI application: thin views over :mod:`.upstream` (the index, through pip-ff's
engine) and :mod:`.pages` (the page model).

Routes, under an optional token segment (``/<token>/...``, see :mod:`.command`)::

    /simple/                      the projects of the served index pip-ff's record holds files of
    /simple/<normalized>/         a project page, PEP 691 JSON or PEP 503 HTML by Accept
    /files/<project>/<filename>   a file of that page (``<filename>.metadata``: PEP 658)

Every request is checked before any view runs: GET and HEAD only (nothing changes state over
HTTP), a Host header naming the address served (DNS rebinding), the token, and a path that is
plain segments (``..``, encoded slashes or dots, NUL, backslashes and over-long names get a
4xx). Request paths never become file paths: a file name is looked up in the project's page,
and what is served comes from the URL that page gives.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any, Callable

from pip_offline_fallback.compat.vendored import canonicalize_name
from pip_offline_fallback.serve import freshness, pages
from pip_offline_fallback.serve.files import (
    Contradicted,
    Reply,
    file_reply,
    text,
)
from pip_offline_fallback.serve.provenance import provenance_header
from pip_offline_fallback.serve.upstream import Upstream, UpstreamError

logger = logging.getLogger(__name__)
# One line per request with -v (the command sets this logger's level).
access_log = logging.getLogger("pip_offline_fallback.serve.access")

StartResponse = Callable[..., Any]
MAX_PATH = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9._+!~-]{1,255}")
_ENCODED_BAD = re.compile(r"%(2f|5c|00|2e)", re.IGNORECASE)
# /simple/ (the record's projects); a project page follows the index's (freshness.py).
PAGE_CACHE_CONTROL = "max-age=60"


class _NoTracebackForContradicted(logging.Filter):
    """A body cut short on purpose (see :class:`.files.Contradicted`) is said in one line by
    serve; the server's traceback for it would only repeat it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, Contradicted)


class ServeApp:
    def __init__(self, upstream: Upstream, *, hosts: Iterable[str], token: str | None) -> None:
        waitress_log = logging.getLogger("waitress")
        if not any(isinstance(f, _NoTracebackForContradicted) for f in waitress_log.filters):
            waitress_log.addFilter(_NoTracebackForContradicted())
        self.upstream = upstream
        self.hosts = {h.lower() for h in hosts}
        self.token = token
        self.prefix = f"/{token}" if token else ""
        # The per-user serve's proof and counts (serve/control.py), under ``/-pipff/``.
        self.control: Callable[[list[str], str], Reply] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "GET"))
        raw = str(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
        try:
            reply = self._reply(environ, method, raw)
        except Exception:
            logger.exception("pip-ff serve: internal error")
            reply = text(500, "internal error\n")
        shown = raw.replace(self.token, "<token>") if self.token else raw
        access_log.info(
            "%s %s %d %s%.0fms",
            method,
            shown[:200],
            reply.status,
            f"{reply.source} " if reply.source else "",
            (time.monotonic() - started) * 1000,
        )
        start_response(reply.status_line, reply.headers)
        if method == "HEAD":
            reply.close()
            return []
        return reply.body

    # -- checks --------------------------------------------------------------------------------

    def _reply(self, environ: dict[str, Any], method: str, raw: str) -> Reply:
        host = str(environ.get("HTTP_HOST", "")).lower()
        if host not in self.hosts:
            return text(403, "pip-ff serve: this Host is not served (only the loopback address)\n")
        if method not in ("GET", "HEAD"):
            reply = text(405, "pip-ff serve: read only (GET and HEAD)\n")
            reply.headers.append(("Allow", "GET, HEAD"))
            return reply
        path = raw.split("?", 1)[0]
        if len(raw) > MAX_PATH:
            return text(414, "pip-ff serve: request path too long\n")
        if "\\" in path or "\x00" in path or _ENCODED_BAD.search(path) or not path.startswith("/"):
            return text(400, "pip-ff serve: malformed path\n")
        segments = [urllib.parse.unquote(s) for s in path.split("/")[1:]]
        if any(s and not _SEGMENT.fullmatch(s) for s in segments) or any(
            s in (".", "..") for s in segments
        ):
            return text(400, "pip-ff serve: malformed path\n")
        if segments[:1] == ["-pipff"] and segments[1:2] in (["ask"], ["proof"]):
            # Before the token: pip-ff run proves who answers on a port without the token (a
            # program that took a dead serve's port must never get it); control.py checks
            # that the question is this user's, for this Host.
            return self._control(segments[1:], host)
        if self.token:
            given = segments[0] if segments else ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return text(403, "pip-ff serve: this index needs its token in the URL\n")
            segments = segments[1:]
        return self._route(environ, segments, method)

    def _route(self, environ: dict[str, Any], segments: list[str], method: str) -> Reply:
        if segments[:2] == ["-pipff", "state"]:
            return self._control(segments[1:], str(environ.get("HTTP_HOST", "")).lower())
        if segments == ["simple"]:
            return redirect(f"{self.prefix}/simple/")
        if segments == ["simple", ""]:
            return self._root(environ)
        if len(segments) in (2, 3) and segments[0] == "simple" and segments[1]:
            name = segments[1]
            canonical = canonicalize_name(name)
            if name != canonical or len(segments) == 2 or segments[2]:
                return redirect(f"{self.prefix}/simple/{canonical}/")
            return self._page(environ, canonical)
        if len(segments) == 3 and segments[0] == "files" and segments[1] and segments[2]:
            project = segments[1]
            if project != canonicalize_name(project):
                return text(404, "pip-ff serve: no such file\n")
            return file_reply(
                self.upstream,
                project,
                segments[2],
                environ.get("HTTP_RANGE"),
                head=method == "HEAD",
            )
        return text(404, "pip-ff serve: not found (the index is at /simple/)\n")

    def _control(self, segments: list[str], host: str) -> Reply:
        if self.control is None:
            return text(404, "pip-ff serve: not found (the index is at /simple/)\n")
        return self.control(segments, host)

    # -- views ---------------------------------------------------------------------------------

    def _negotiated(self, environ: dict[str, Any]) -> tuple[str, str] | Reply:
        chosen = pages.negotiate(environ.get("HTTP_ACCEPT"))
        if chosen is None:
            return text(406, "pip-ff serve: serves PEP 691 JSON and PEP 503 HTML only\n")
        return chosen

    def _root(self, environ: dict[str, Any]) -> Reply:
        chosen = self._negotiated(environ)
        if isinstance(chosen, Reply):
            return chosen
        fmt, content_type = chosen
        # The record's projects that are this serve's (its index's, for its credentials).
        names = [name for name in self.upstream.engine.projects() if self.upstream.lists(name)]
        return _document(pages.render_root(names, fmt), content_type, environ)

    def _page(self, environ: dict[str, Any], project: str) -> Reply:
        chosen = self._negotiated(environ)
        if isinstance(chosen, Reply):
            return chosen
        fmt, content_type = chosen
        try:
            answer = self.upstream.page(project)
        except UpstreamError as exc:
            if exc.status != 404:
                logger.warning("pip-ff serve: %s: %s", project, exc)
            return text(exc.status, f"pip-ff serve: {exc}\n")
        page = answer.page
        if answer.provenance.local:
            # Only what can be downloaded, intact: an installer never picks a version it can't
            # fetch (a damaged copy left out, an older intact one is picked).
            engine, authorizations = self.upstream.engine, self.upstream.authorizations()
            page = page.with_files(engine.offered(page.files, authorizations))
        files = [
            _with_url(f, f"{self.prefix}/files/{project}/{urllib.parse.quote(f.filename)}")
            for f in page.files
        ]
        page = page.with_files(files)
        body = pages.render_json(page) if fmt == "json" else pages.render_html(page)
        reply = _document(body, content_type, environ, freshness.header(answer.max_age))
        if answer.provenance.local:
            reply.headers.append(("X-PipFF-Source", provenance_header(answer.provenance)))
            reply.source = answer.provenance.source.value
        return reply


def _with_url(link: pages.FileLink, url: str) -> pages.FileLink:
    from dataclasses import replace

    return replace(link, url=url)


def redirect(location: str) -> Reply:
    reply = text(301, f"see {location}\n")
    reply.headers.append(("Location", location))
    return reply


def _document(
    body: bytes,
    content_type: str,
    environ: dict[str, Any],
    cache_control: str = PAGE_CACHE_CONTROL,
) -> Reply:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = [
        ("Content-Type", content_type),
        ("Vary", "Accept"),
        ("Cache-Control", cache_control),
        ("ETag", etag),
    ]
    if environ.get("HTTP_IF_NONE_MATCH") == etag:
        return Reply(304, headers, iter(()))
    headers.append(("Content-Length", str(len(body))))
    return Reply(200, headers, _once(body))


def _once(body: bytes) -> Iterator[bytes]:
    yield body
