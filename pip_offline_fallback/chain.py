"""The fallback chain: a primary index's own fallback indexes, asked in order while it is down.

Each mirror is bound to one primary (``PRIMARY=MIRROR``; a bare URL serves the command's first
index): a mirror is never asked for another index's pages, so it can't shadow a private
project. The first mirror that answers decides; "not found", or a page that lists nothing of
the project, ends the chain and local sources answer, so no later index can serve what this one
lacks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pip_offline_fallback import compat, mirrors, plausible
from pip_offline_fallback.causes import UNREACHABLE_STATUSES
from pip_offline_fallback.outage import NETWORK_ERRORS, THROTTLED
from pip_offline_fallback.urls import host_of, url_key

if TYPE_CHECKING:
    from pip._vendor.requests import PreparedRequest, Response, Session

logger = logging.getLogger(__name__)


class MirrorChain:
    def __init__(self, values: Sequence[str]) -> None:
        self.fallback_indexes = _parse(values)
        self.hosts = {host_of(m.url) for m in self.fallback_indexes}
        self.primaries: list[str] = []  # the command's index URLs (normalised, with "/")
        # Primary pages a live mirror answered but could not satisfy: local data answers them.
        self._passed: set[str] = set()
        self._attempt = threading.local()

    def add_primary(self, index_url: str) -> None:
        primary = mirrors.primary_key(index_url)
        if primary not in self.primaries:
            self.primaries.append(primary)

    @property
    def asking(self) -> bool:
        """Whether this thread's request is a mirror's (sent by :meth:`ask`)."""
        return bool(getattr(self._attempt, "active", False))

    def index_suffix(self, url: str) -> tuple[str, str] | None:
        """(the primary index, the part of the URL below it, e.g. ``six/``), if any."""
        key = url_key(url)
        for primary in self.primaries:
            if key.startswith(primary):
                return primary, key[len(primary) :]
        return None

    def _mirrors_of(self, primary: str) -> list[mirrors.FallbackIndex]:
        default = self.primaries[0] if self.primaries else None
        return [m for m in self.fallback_indexes if m.serves(primary, default)]

    def pass_over(self, urls: set[str]) -> bool:
        """The live mirrors' pages at ``urls`` can't satisfy a requirement (a devpi that lost
        its upstream lists only what it holds): ask local data for them from now on. False
        when they were passed over already."""
        if urls <= self._passed:
            return False
        self._passed.update(urls)
        return True

    def ask(
        self,
        session: Session | None,
        request: PreparedRequest,
        kwargs: dict[str, Any],
        project: str | None,
    ) -> tuple[Response, str] | None:
        """The first answering mirror's page for ``request`` (a primary's page) and the
        mirror's URL, or None.

        Each request goes through the session (and so through the engine's ``send``): a dead
        mirror is marked down as fast as a dead primary, an answer is recorded.
        """
        url = str(request.url)
        if not self.fallback_indexes or request.method != "GET" or url in self._passed:
            return None
        found = self.index_suffix(url)
        if found is None or session is None:
            return None
        primary, suffix = found
        for mirror in self._mirrors_of(primary):
            accept = request.headers.get("Accept")
            self._attempt.active = True
            try:
                response = mirrors.fetch(
                    session, mirror, suffix, str(accept) if accept else None, **kwargs
                )
            except NETWORK_ERRORS:
                continue  # send() marked that mirror down
            finally:
                self._attempt.active = False
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
            return response, mirror.url
        return None

    def contradicts(
        self, mirror_url: str, host: str, response: Response, local: tuple[str, bytes] | None
    ) -> bool:
        """Whether the mirror's page lists a file under the name of one the primary's local
        page lists, with another hash (said in one warning). The same file name with other
        bytes is a red flag (a mirror tampered with, or a release rebuilt): the primary's
        recorded copy, the one pip installed before, is preferred, and local data answers."""
        if local is None:
            return False
        theirs = plausible.listed_hashes(response.content)
        clash = plausible.clashing_file(theirs, plausible.listed_hashes(local[1]))
        if clash is None:
            return False
        filename, their_hash, our_hash = clash
        logger.warning(
            "pip-ff: %s lists %s with other bytes than the copy recorded from %s (sha256 %s, "
            "recorded %s); using the recorded copy",
            compat.redact(mirror_url),
            filename,
            compat.redact(host),
            their_hash[:16],
            our_hash[:16],
        )
        return True

    def mirrored_urls(self, url: str) -> list[str]:
        """Where the primary's page at ``url`` is filed when it only ever came through a mirror
        (under the mirror's URL). Once the mirror is down too, that is still the right answer:
        it is what the chain last said."""
        found = self.index_suffix(url) if self.fallback_indexes else None
        if found is None:
            return []
        primary, suffix = found
        return [
            mirrors.without_credentials(m.url).rstrip("/") + "/" + suffix
            for m in self._mirrors_of(primary)
        ]


def _parse(values: Sequence[str]) -> list[mirrors.FallbackIndex]:
    found = []
    for value in values:
        try:
            found.append(mirrors.parse_fallback_index(value))
        except ValueError as exc:
            logger.warning("pip-ff: ignoring fallback index %s", exc)
    return found
