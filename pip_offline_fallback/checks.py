"""The checks on an answer that came: can it be what was asked (a captive portal's page is not),
and does a fallback index's page clash with the local copy of the same page.

Each check answers; the engine (:mod:`.engine`) decides what follows (a route down, a local
answer instead, the mirror's page used).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pip_offline_fallback import bugs, compat, plausible
from pip_offline_fallback.urls import host_of

if TYPE_CHECKING:
    from pip._vendor.requests import PreparedRequest, Response

    from pip_offline_fallback.answers import LocalAnswers
    from pip_offline_fallback.chain import MirrorChain
    from pip_offline_fallback.recording import Recording

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Doubt:
    """An answer that can't be what was asked (see :func:`doubt`)."""

    why: str
    answer_for: str  # the URL local data answers instead: the link pip asked for
    portal: str | None  # a host whose link redirected to the portal: no index either
    file_asked: bool  # a distribution file was asked for (an HTML page came)


def doubt(
    recording: Recording,
    chain: MirrorChain,
    url: str,
    response: Response,
    project: str | None,
) -> Doubt | None:
    """Why a 200 answer to ``url`` can't be what was asked (a captive portal's page), or None.
    ``project``: the project whose page was asked for (None: not a project page's request)."""
    # What was asked for: this URL, or the link that redirected here (a portal's 302 to
    # /login, a CDN's opaque object URL). The answer must be able to be that.
    asked = recording.asked_for(url)
    content_type = response.headers.get("content-type", "")
    file_asked = any(plausible.is_distribution_url(u) for u in asked)
    if file_asked:
        why = plausible.doubt_about_file(content_type)
    else:
        # Only a project page of an index (or a mirror's) must list the project: a
        # --find-links page lists whatever it holds, often nothing of the project asked for.
        index_page = any(chain.index_suffix(u) is not None for u in asked)
        if project is None or not (index_page or chain.asking):
            return None
        why = plausible.doubt_about_page(project, content_type, response.content)
    if why is None:
        return None
    # A redirect that led to what is neither a file nor a page of an index (a portal's
    # /login) is answered for the link pip asked for; the host that sent us there is no index.
    answer_for, portal = url, None
    origin = asked[-1]
    if origin != url and not (
        plausible.is_distribution_url(url) or chain.index_suffix(url) is not None
    ):
        answer_for = origin
        if host_of(origin) != host_of(url):
            portal = host_of(origin)
    return Doubt(why, answer_for, portal, file_asked)


def mirror_clashes(
    chain: MirrorChain,
    answers: LocalAnswers,
    request: PreparedRequest,
    host: str,
    response: Response,
    mirror_url: str,
) -> bool:
    """Whether a fallback index's answer must give way to local data: it contradicts the local
    copy of the page, or that copy can't be read to compare (never trust a mirror blindly)."""
    try:
        local_page = answers.page(request)
    except OSError as exc:
        unreadable: BaseException = exc
    except Exception as exc:
        bugs.unexpected(exc, "reading the local copy of a page")
        unreadable = exc
    else:
        return bool(chain.contradicts(mirror_url, host, response, local_page))
    logger.warning(
        "pip-ff: can't read the local copy of %s to compare with %s (%r); using local data",
        compat.redact(str(request.url)),
        compat.redact(mirror_url),
        unreadable,
    )
    return True
