"""What the fallback did in this run, and the lines that tell the user.

Everything here is collected while pip runs and shown once, at the end of the command, through
logging (pip shows it at its own verbosity: hidden by ``-q``, detailed with ``-v``).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from pip_offline_fallback import compat
from pip_offline_fallback.wheelhouse import project_of

logger = logging.getLogger(__name__)

NETWORK = "network"
PIP_CACHE = "pip's HTTP cache"
RECORD = "pip-ff's record"
WHEELHOUSE = "wheelhouse"


def age_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{int(seconds)} second{'s' if int(seconds) != 1 else ''}"


@dataclass
class StalePage:
    project: str
    source: str
    fetched: float
    versions_listed: list[str] = field(default_factory=list)
    versions_local: list[str] = field(default_factory=list)


@dataclass
class Missing:
    project: str
    specifier: str
    local_versions: list[str]


class Report:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.unreachable: dict[str, str] = {}
        self.pages: dict[str, StalePage] = {}
        self.files: Counter[str] = Counter()
        self.missing: dict[str, Missing] = {}
        self.offline_mode = False

    def host_down(self, host: str, cause: str, *, announce: bool) -> None:
        with self._lock:
            self.unreachable[host] = cause
        if announce:
            logger.warning(
                "pip-ff: %s is unreachable (%s); continuing from local sources",
                compat.redact(host),
                cause,
            )

    def stale_page(self, page: StalePage) -> None:
        with self._lock:
            self.pages.setdefault(page.project, page)

    def file_served(self, url: str, source: str) -> None:
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        if project_of(name) is None:
            return  # an index page or a metadata file, not a distribution
        with self._lock:
            self.files[source] += 1
        logger.debug("pip-ff: %s from %s", name, source)

    def requirement_missing(self, project: str, specifier: str, local_versions: list[str]) -> None:
        with self._lock:
            self.missing[f"{project}{specifier}"] = Missing(project, specifier, local_versions)

    @property
    def engaged(self) -> bool:
        return bool(self.unreachable or self.pages or self.files or self.offline_mode)

    def finish(self, status: int) -> None:
        """Log the summary (success) or the error that says what could not be had locally."""
        if not self.engaged:
            return
        causes = ", ".join(f"{compat.redact(h)} ({c})" for h, c in self.unreachable.items())
        where = "offline mode" if self.offline_mode and not causes else f"unreachable: {causes}"
        if status != 0:
            if self.missing:
                for item in self.missing.values():
                    local = ", ".join(item.local_versions) or "none"
                    logger.error(
                        "pip-ff: no local copy satisfies %s%s (local versions: %s); %s",
                        item.project,
                        item.specifier,
                        local,
                        where,
                    )
                logger.error(
                    "pip-ff: run the command once while the index is reachable, or put the "
                    "files in a wheelhouse (--wheelhouse DIR)"
                )
            return
        now = time.time()
        sources = ", ".join(f"{n} from {s}" for s, n in sorted(self.files.items()))
        logger.warning(
            "pip-ff: finished from local sources (%s); %s",
            where,
            sources or "no files needed",
        )
        for page in self.pages.values():
            newest = page.versions_listed[-1] if page.versions_listed else "none"
            logger.info(
                "pip-ff: %s: index data from %s, %s old (newest listed: %s)",
                page.project,
                page.source,
                age_text(now - page.fetched),
                newest,
            )
