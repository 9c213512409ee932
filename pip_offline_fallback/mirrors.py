"""Fallback indexes (``--fallback-index-url``): each one a stand-in for one primary index.

A fallback index is bound to the index it mirrors: ``PRIMARY=MIRROR`` binds it to ``PRIMARY``,
a bare ``MIRROR`` to the command's ``--index-url``. While a primary is down, only its own
mirrors are asked for its pages, in order, and the first that answers decides: a page that
lists the project's files is used; a "not found" (or a page that lists nothing) ends the chain
and local sources answer. So a project the primary serves is never taken from an index that
does not mirror it (the dependency-confusion path a merged chain would open).

A mirror request is built fresh, never copied from the primary's: the session's headers,
the mirror's own cookies (the session's jar is scoped by domain), the mirror's own credentials
(from its URL, else netrc) and the session's proxy rules for the mirror's URL. Redirects are
followed here, one hop at a time, and no credentials cross any of them.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pip_offline_fallback import compat
from pip_offline_fallback.urls import url_key, without_credentials

if TYPE_CHECKING:
    from pip._vendor.requests import PreparedRequest, Response, Session

_BINDING = re.compile(r"(https?://\S+?)=(https?://\S+)")
_MAX_REDIRECTS = 10
# Request headers a mirror gets from the session; nothing of the primary's request travels.
_SESSION_HEADERS = ("User-Agent", "Accept-Encoding")


@dataclass(frozen=True)
class FallbackIndex:
    url: str  # as given: may hold the mirror's own credentials, never logged unredacted
    primary: str | None  # the primary's key (no credentials, ending in "/"), None: --index-url

    def serves(self, primary: str, default_primary: str | None) -> bool:
        return (self.primary or default_primary) == primary


def primary_key(url: str) -> str:
    """An index URL as primaries are compared: no credentials, lower-case host, one "/"."""
    return url_key(url).rstrip("/") + "/"


def parse_fallback_index(value: str) -> FallbackIndex:
    """``[PRIMARY=]MIRROR``; raises ValueError for anything else."""
    match = _BINDING.fullmatch(value)
    if match:
        return FallbackIndex(match.group(2), primary_key(match.group(1)))
    if not re.fullmatch(r"https?://\S+", value):
        raise ValueError(f"not an http:// or https:// URL: {compat.redact(value)!r}")
    return FallbackIndex(value, None)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without ``user:password@``, and those credentials (None when it has none)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    user = urllib.parse.unquote(parts.username)
    return without_credentials(url), (user, urllib.parse.unquote(parts.password or ""))


def _prepare(
    session: Session, url: str, accept: str | None, auth: tuple[str, str] | None
) -> PreparedRequest:
    headers = {name: session.headers[name] for name in _SESSION_HEADERS if name in session.headers}
    if accept:
        headers["Accept"] = accept
    if auth is None and session.trust_env:
        auth = compat.get_netrc_auth(url)
    request = compat.RequestsRequest(
        "GET", url, headers=headers, auth=auth, cookies=session.cookies
    )
    prepared: PreparedRequest = request.prepare()
    return prepared


def fetch(
    session: Session, mirror: FallbackIndex, suffix: str, accept: str | None, **kwargs: Any
) -> Response:
    """GET ``suffix`` (a page below the primary) from ``mirror``, redirects followed here.

    ``kwargs`` are the transport's (timeout, stream); proxies, verify and cert are the
    session's own for each URL. The first hop carries the mirror's credentials, no later one.
    """
    clean, auth = split_credentials(mirror.url)
    url = clean.rstrip("/") + "/" + suffix
    if auth is not None:
        # The mirror's pages link its files; pip's own auth must know the mirror by host.
        compat.remember_credentials(session, url, auth)
    send_kwargs = {k: v for k, v in kwargs.items() if k in ("timeout", "stream")}
    for _ in range(_MAX_REDIRECTS):
        response: Response = session.send(
            _prepare(session, url, accept, auth), allow_redirects=False, **send_kwargs
        )
        location = response.headers.get("location") if response.is_redirect else None
        if not location:
            return response
        response.close()
        url = urllib.parse.urljoin(url, location)
        auth = None
    return response
