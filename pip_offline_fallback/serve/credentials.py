"""Whom serve asks with credentials: the facts behind its token and its identity.

Serve's answers are private whenever pip's session would send the index (or one of its
fallback mirrors) credentials of any kind; then serve's URL carries a token. A check that
fails counts as credentials: serve can't know the index is public.
"""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import Hashable
from typing import TYPE_CHECKING

from pip_offline_fallback import bugs, compat, urls

if TYPE_CHECKING:
    from pip._vendor.requests import Session

logger = logging.getLogger(__name__)


def asks_with_credentials(session: Session | None, index_url: str) -> bool:
    """Whether ``session`` would send credentials to ``index_url``: a user name (alone, as a
    token-as-user-name index takes it, or with a password) in the URL, or an Authorization
    header its auth adds for the URL without them (from the URL pip was given, netrc), or a
    keyring its auth would ask.
    A check that fails says yes: serve can't know the index is public."""
    if urllib.parse.urlsplit(index_url).username:
        return True
    try:
        # pip asks keyring only once the index answers 401 (then retries with what keyring
        # gave), which no prepared request shows: a session that would ask it counts.
        if getattr(getattr(session, "auth", None), "use_keyring", False) is True:
            return True
        if session is not None:
            request = compat.RequestsRequest("GET", without_credentials(index_url))
            prepared = session.prepare_request(request)
            if prepared.headers.get("Authorization"):
                return True
        return bool(compat.get_netrc_auth(without_credentials(index_url)))
    except Exception as exc:  # keyring, netrc, a bug: any doubt means a token
        logger.info(
            "pip-ff serve: can't tell whether %s needs credentials (%s); serving it with a token",
            compat.redact(index_url),
            (str(exc).splitlines() or [type(exc).__name__])[0],
        )
        return True


def authorization(session: Session, url: str) -> str | None:
    """The Authorization header ``session`` (pip's) would send to ``url`` (the record files what
    was fetched with credentials under their keyed digest). None too for a URL requests can't
    prepare: then only what anyone may read is looked up (fails safe)."""
    try:
        prepared = session.prepare_request(compat.RequestsRequest("GET", url))
    except compat.requests.exceptions.RequestException:
        return None
    except Exception as exc:
        bugs.unexpected(exc, "asking pip's session which credentials go with a URL")
        return None
    value = prepared.headers.get("Authorization")
    return str(value) if value else None


class PageAuthorizations:
    """:func:`authorization` for the many files of one page, with the same answers: pip's
    session is asked once per credential scope (the URL's origin, the index URL pip matches it
    to, what pip keeps for its host: ``compat.credential_scope``), not once per file, so a page
    of N files on one host costs one or two preparations, not N. One per page: netrc, which
    pip reads on every request, is read again for the next page."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._known: dict[Hashable, str | None] = {}

    def __call__(self, url: str) -> str | None:
        try:
            scope = compat.credential_scope(self.session, url)
        except compat.requests.exceptions.RequestException:
            return None  # as authorization() says: preparing the request fails the same way
        except Exception as exc:
            bugs.unexpected(exc, "telling which credentials pip sends with a URL")
            return None
        if scope is None:
            return authorization(self.session, url)
        if scope not in self._known:
            self._known[scope] = authorization(self.session, url)
        return self._known[scope]


def mirror_authorization(mirror: str, url: str) -> str | None:
    """The Authorization header a mirror's page request carries (see :mod:`..mirrors`): the
    mirror URL's own credentials, else netrc's."""
    from pip_offline_fallback.mirrors import split_credentials

    auth = split_credentials(mirror)[1]
    try:
        if auth is None:
            auth = compat.get_netrc_auth(url)
        prepared = compat.RequestsRequest("GET", url, auth=auth).prepare()
    except Exception:  # no header: only what anyone may read is looked up (fails safe)
        return None
    value = prepared.headers.get("Authorization")
    return str(value) if value else None


def mirror_urls(values: tuple[str, ...]) -> list[str]:
    """The fallback mirrors' URLs (a malformed one is ignored, as the engine's chain says)."""
    from pip_offline_fallback.mirrors import parse_fallback_index

    urls = []
    for value in values:
        with contextlib.suppress(ValueError):
            urls.append(parse_fallback_index(value).url)
    return urls


def without_credentials(url: str) -> str:
    """What serve asks upstream with: no credentials (its session adds its own), no fragment."""
    return urls.without_credentials(url, fragment=False)
