"""The run's findings, collected while pip runs, and told once at the end of the command.

The engine, the finder hooks and the recorder call :class:`Report` as things happen (from pip's
threads and the recorder's); :meth:`Report.finish` hands the :class:`~.findings.Findings` to
:mod:`.summary` (the lines, through logging) and :mod:`.reportfile` (the JSON report).
An outage and a failing URL are said at once, in one line, here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator

from pip_offline_fallback import compat, reportfile, summary
from pip_offline_fallback.buildcount import BuildOutcomes
from pip_offline_fallback.compat.vendored import canonicalize_name
from pip_offline_fallback.findings import (
    SOURCE_WORDS,
    VERBOSE,
    Distribution,
    Findings,
    Missing,
    StalePage,
    TooOld,
)
from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.urls import filename_of, host_of, parse_dist_filename

logger = logging.getLogger(__name__)


class Report(Findings):
    def __init__(
        self, *, mode: str = "auto", path: str | None = None, fallback_indexes: Iterable[str] = ()
    ) -> None:
        super().__init__(mode=mode, fallback_indexes=fallback_indexes)
        self._lock = threading.Lock()
        self.path = path
        self._failing_hosts: set[str] = set()  # hosts whose failure was said
        self._ignore = threading.local()
        # Build isolation's pips: what they received (read at the end, see buildcount.py).
        self.build = BuildOutcomes(os.environ)

    # -- collecting (called while pip runs) --------------------------------------------------

    @contextlib.contextmanager
    def ignoring(self) -> Iterator[None]:
        """Leave out the lookups this thread makes inside the block: pip's own business (its
        self version check looks pip up), not the command's. A host found down there is still
        told: it is down for the command too, and the warning is said only once."""
        previous = self._ignored()
        self._ignore.active = True
        try:
            yield
        finally:
            self._ignore.active = previous

    def _ignored(self) -> bool:
        return bool(getattr(self._ignore, "active", False))

    def host_down(self, host: str, cause: str, *, announce: bool) -> None:
        """A route is down for the run. Said once, in one line, for the first route only: the
        closing summary names every one (a second warning would land inside pip's output)."""
        with self._lock:
            first = not self.unreachable
            self.unreachable[host] = cause
        if announce and first:
            logger.warning(
                "pip-ff: %s is unreachable (%s); continuing from local sources",
                compat.redact(host),
                cause,
            )

    def url_failed(self, url: str, cause: str, *, local: bool) -> None:
        """The index answered one URL badly, after pip's retries; ``local``: a local copy
        answered instead (said at once), else pip's own error follows."""
        key = compat.redact(url.split("#", 1)[0])
        host = host_of(url)
        with self._lock:
            self.failed[key] = cause
            first = local and host not in self._failing_hosts
            if first:
                self._failing_hosts.add(host)
        if first:
            # Once per host, as an outage is said once: the summary names every URL.
            logger.warning(
                "pip-ff: %s fails (%s for %s); continuing from local sources where it fails",
                compat.redact(host),
                cause,
                key,
            )

    def mirror_used(self, url: str) -> None:
        if self._ignored():
            return
        with self._lock:
            if self.fallback_indexes.get(url) == "unused":
                self.fallback_indexes[url] = "used"

    def stale_page(self, page: StalePage) -> None:
        if self._ignored():
            return
        with self._lock:
            self.pages.setdefault(page.project, page)

    def fresh_page(self, project: str) -> None:
        """The index itself answered for ``project`` after all (prefer-offline asked again)."""
        with self._lock:
            self.pages.pop(project, None)

    def file_served(
        self, url: str, source: Source, *, sha256: str | None = None, path: str | None = None
    ) -> None:
        """A distribution file pip received, from the network or a local source."""
        if self._ignored():
            return
        filename = filename_of(url)
        parsed = parse_dist_filename(filename)
        if parsed is None:
            return  # an index page or a metadata file, not a distribution
        with self._lock:
            self.distributions[url.split("#", 1)[0]] = Distribution(
                name=parsed[0],
                version=str(parsed[1]),
                filename=filename,
                source=source,
                # No query: on a file URL it is a token (a pre-signed URL's signature).
                url=compat.redact(url.split("#", 1)[0].split("?", 1)[0]),
                sha256=sha256,
                path=path,
            )
        logger.log(VERBOSE, "pip-ff: %s from %s", filename, SOURCE_WORDS.get(source, source))

    def file_discarded(self, url: str) -> None:
        """pip received a file and then discarded it (its metadata contradicts its name)."""
        with self._lock:
            self.distributions.pop(url.split("#", 1)[0], None)

    def file_hashed(self, url: str, sha256: str) -> None:
        if self._ignored():
            return
        with self._lock:
            dist = self.distributions.get(url.split("#", 1)[0])
            if dist is not None and dist.sha256 is None:
                dist.sha256 = sha256

    def specifier_seen(self, project: str, specifier: str) -> None:
        if self._ignored():
            return
        with self._lock:
            self.specifiers.setdefault(str(canonicalize_name(project)), set()).add(specifier)

    def requirement_missing(
        self,
        project: str,
        specifier: str,
        local_versions: list[str],
        excluded: list[str] | None = None,
    ) -> None:
        """No local candidate satisfies ``project`` ``specifier``; an empty specifier also stands
        for a lookup of every version (``pip index versions``), and then gives way to any more
        precise entry for the project, so that each failure is said once."""
        if self._ignored():
            return
        key = f"{project}{specifier}"
        with self._lock:
            if specifier:
                self.missing.pop(project, None)
            elif any(m.project == project for k, m in self.missing.items() if k != key):
                return
            if key in self.missing and not (local_versions or excluded):
                return  # the same failure again, saying less (pip's error message looks again)
            self.missing[key] = Missing(project, specifier, local_versions, list(excluded or []))

    def index_data_too_old(self, project: str, age: float, limit: float) -> None:
        if self._ignored():
            return
        with self._lock:
            self.too_old.setdefault(project, TooOld(project, age, limit))

    # -- telling ------------------------------------------------------------------------------

    def finish(self, status: int) -> None:
        """Tell what happened: the summary (success) or why local sources fell short."""
        self.build.append(self.rows())  # a child: counted by the run that started it
        self.built = self.build.collect()  # a parent: what its children counted
        try:
            if self.path:
                reportfile.write_json(self, self.path)
        finally:
            summary.tell(self, status)
