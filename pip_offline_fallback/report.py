"""What the fallback did in this run, and the lines (and JSON) that tell the user.

Everything here is collected while pip runs and told once, at the end of the command, through
logging: pip shows it at its own verbosity (the summary is hidden by ``-q``; ``-v`` adds a line
per distribution). The JSON report (``--fallback-report FILE``) carries the same facts; its
schema is documented in README.md and versioned by ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pip_offline_fallback import __version__, compat, shortfall
from pip_offline_fallback.buildcount import BuildOutcomes
from pip_offline_fallback.compat.vendored import InvalidVersion, Version, canonicalize_name
from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.urls import filename_of, host_of, parse_dist_filename
from pip_offline_fallback.wording import age_text

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
VERBOSE = 15  # pip's -v level

# Where a response came from, in words for people.
SOURCE_WORDS = {
    Source.FALLBACK_INDEX: "a fallback index",
    Source.NETWORK: "the network",
    Source.PIP_CACHE: "pip's HTTP cache",
    Source.RECORD: "pip-ff's record",
    Source.WHEELHOUSE: "a wheelhouse",
    Source.WHEEL_CACHE: "pip's wheel cache",
    Source.LOCAL_PATH: "a file:// index or --find-links",
}
# Sources that are plain pip even online: pip's own HTTP cache, and the files pip was pointed
# at on disk. Only the others mean the fallback engaged.
_PLAIN_PIP = (Source.NETWORK, Source.PIP_CACHE, Source.LOCAL_PATH)


def _older(version: str | None, newest: str | None) -> bool:
    """Whether the chosen ``version`` is older than the ``newest`` the index data lists."""
    if version is None or newest is None:
        return False
    try:
        return Version(version) < Version(newest)
    except InvalidVersion:
        return False


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


@dataclass
class StalePage:
    """A project's index data that came from local sources instead of the index."""

    project: str
    source: Source
    fetched: float
    versions_listed: list[str] = field(default_factory=list)
    versions_local: list[str] = field(default_factory=list)


@dataclass
class Distribution:
    name: str
    version: str
    filename: str
    source: Source
    url: str
    sha256: str | None = None
    path: str | None = None  # the wheelhouse file


@dataclass
class Missing:
    project: str
    specifier: str
    local_versions: list[str]
    excluded: list[str] = field(default_factory=list)  # "1.0 (excluded by --only-binary)"

    @property
    def local_text(self) -> str:
        """The local versions, in words: those offered, then those an option kept out."""
        return ", ".join([*self.local_versions, *self.excluded]) or "none"


@dataclass
class TooOld:
    project: str
    age: float
    limit: float


class Report:
    def __init__(
        self, *, mode: str = "auto", path: str | None = None, fallback_indexes: Any = ()
    ) -> None:
        self.fallback_indexes: dict[str, str] = dict.fromkeys(fallback_indexes, "unused")
        self._lock = threading.Lock()
        self.mode = mode
        self.path = path
        self.unreachable: dict[str, str] = {}
        self.failed: dict[str, str] = {}  # URL (redacted) -> what the index did, after retries
        self._failing_hosts: set[str] = set()  # hosts whose failure was said
        self.pages: dict[str, StalePage] = {}
        self.distributions: dict[str, Distribution] = {}
        self.missing: dict[str, Missing] = {}
        self.too_old: dict[str, TooOld] = {}
        self.specifiers: dict[str, set[str]] = {}
        self.offline_mode = mode == "offline"
        self._ignore = threading.local()
        # Set by the engine: whether its record holds anything from a host (None: this run has
        # no record, pip's cache being off), and the command's index hosts; for the hint.
        self.record_knows: Callable[[str], bool | None] = lambda host: True
        self.index_hosts: list[str] = []
        # Build isolation's pips: what they received (read at the end, see buildcount.py).
        self.build = BuildOutcomes(os.environ)
        self.built: list[dict[str, Any]] = []

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

    @property
    def engaged(self) -> bool:
        # pip's own HTTP cache answering an online run is plain pip, not a fallback.
        local = any(d.source not in _PLAIN_PIP for d in self.distributions.values())
        return bool(
            self.unreachable
            or self.failed
            or self.pages
            or local
            or self.offline_mode
            or self.too_old
        )

    def _pinned(self, project: str) -> bool:
        specs = self.specifiers.get(project, set())
        return any(s.startswith(("==", "===")) and "*" not in s and "," not in s for s in specs)

    def _where(self) -> str:
        causes = ", ".join(f"{compat.redact(h)} ({c})" for h, c in self.unreachable.items())
        if self.failed and not causes:
            failed = ", ".join(f"{u} ({c})" for u, c in self.failed.items())
            causes = f"the index failed: {failed}"
        chain = ", ".join(
            f"{compat.redact(u)} ({self._mirror_state(u)})" for u in self.fallback_indexes
        )
        if causes and not self.unreachable:
            return causes
        if causes and chain:
            return f"unreachable: {causes}; fallback indexes: {chain}"
        if causes:
            return f"unreachable: {causes}"
        return "offline mode" if self.offline_mode else "local index data"

    def _mirror_state(self, url: str) -> str:
        for host in self.unreachable:
            if host_of(url) == host:
                return "unreachable"
        return self.fallback_indexes.get(url, "unused")

    def finish(self, status: int) -> None:
        """Tell what happened: the summary (success) or why local sources fell short."""
        self.build.append(self._rows())  # a child: counted by the run that started it
        self.built = self.build.collect()  # a parent: what its children counted
        try:
            if self.path:
                self.write_json(self.path)
        finally:
            if self.engaged:
                if status == 0:
                    self._summary()
                else:
                    self._errors()

    def _summary(self) -> None:
        counts = Counter(d.source for d in self.distributions.values())
        sources = ", ".join(f"{n} from {SOURCE_WORDS.get(s, s)}" for s, n in sorted(counts.items()))
        network = counts.get(Source.NETWORK, 0)
        if network and network < sum(counts.values()):
            finished = "local sources and the network"  # prefer-offline fetched what was missing
        elif network:
            finished = "the network"
        else:
            finished = "local sources"
        built = Counter(str(row.get("source", "")) for row in self.built)
        if built:
            words = {str(s): w for s, w in SOURCE_WORDS.items()}
            in_builds = ", ".join(f"{n} from {words.get(s, s)}" for s, n in sorted(built.items()))
            sources = f"{sources or 'none needed'}; build environments: {in_builds}"
        logger.info(
            "pip-ff: finished from %s (%s); distributions: %s",
            finished,
            self._where(),
            sources or "none needed",
        )
        self._index_data_lines()

    def _index_data_lines(self) -> None:
        """A line for each project where a newer version is known but was not chosen (what the
        user may act on), one for how old the local index data is; ``-v`` adds every project."""
        now = time.time()
        chosen = {str(canonicalize_name(d.name)): d.version for d in self.distributions.values()}
        told: list[StalePage] = []  # the projects whose index data matters: not exact pins
        untold = 0  # of those, how many had no line of their own
        for page in self.pages.values():
            version = chosen.get(page.project)
            newest = page.versions_listed[-1] if page.versions_listed else None
            pinned = self._pinned(page.project) and version is not None
            if not pinned:
                told.append(page)
            act = not pinned and _older(version, newest)
            if not act and not pinned:
                untold += 1
            logger.log(
                logging.INFO if act else VERBOSE,
                "pip-ff: %s: %sindex data recorded %s ago (%s); newest listed there: %s",
                page.project,
                f"{version} from " if version else "",
                age_text(now - page.fetched),
                SOURCE_WORDS.get(page.source, page.source),
                newest or "none",
            )
        if not untold:
            return  # no data, only exact pins, or each project had its line
        youngest = age_text(now - max(p.fetched for p in told))
        oldest = age_text(now - min(p.fetched for p in told))
        where = ", ".join(dict.fromkeys(SOURCE_WORDS.get(p.source, p.source) for p in told))
        logger.info(
            "pip-ff: index data of %d project%s recorded %s ago (%s); -v names each",
            len(told),
            "" if len(told) == 1 else "s",
            youngest if youngest == oldest else f"{youngest} to {oldest}",
            where,
        )

    def _errors(self) -> None:
        where = self._where()
        for old in self.too_old.values():
            logger.error(
                "pip-ff: index data for %s is %s old, %s more than --max-stale allows (%s)",
                old.project,
                age_text(old.age),
                age_text(old.age - old.limit),
                age_text(old.limit),
            )
        now = time.time()
        copies_would_help = bool(self.too_old)
        for item in self.missing.values():
            if item.project in self.too_old:
                continue
            page = self.pages.get(item.project)
            words = SOURCE_WORDS.get(page.source, page.source) if page else ""
            text, copy_helps = shortfall.explain(item, page, now, words)
            copies_would_help = copies_would_help or copy_helps
            logger.error("pip-ff: %s; %s", text, where)
        if copies_would_help:
            logger.error(
                "pip-ff: %s, or put the files in a wheelhouse (--wheelhouse DIR)", self._hint()
            )

    def _hint(self) -> str:
        """What would have given a local copy: the record says when pip's cache (and so the
        record) was off, now or while the index answered."""
        online = "run the command once while the index is reachable"
        if not self.missing:
            return online
        hosts = list(self.unreachable) or list(dict.fromkeys(map(host_of, self.failed)))
        known = {host: self.record_knows(host) for host in hosts or self.index_hosts}
        if None in known.values():
            return (
                "pip's cache is off (--no-cache-dir or PIP_NO_CACHE_DIR), and pip-ff's record "
                "with it: run the command with pip's cache on"
            )
        never = [compat.redact(host) for host, knows in known.items() if knows is False]
        if never:
            return (
                f"pip-ff's record holds nothing from {', '.join(never)}: nothing is recorded "
                "while pip's cache is off (--no-cache-dir or PIP_NO_CACHE_DIR); run the command "
                "once with pip's cache on while the index is reachable"
            )
        return online

    def _rows(self) -> list[dict[str, Any]]:
        return [
            {
                "name": d.name,
                "version": d.version,
                "filename": d.filename,
                "source": str(d.source),
                "url": d.url,
                "sha256": d.sha256,
            }
            for d in sorted(self.distributions.values(), key=lambda d: (d.name, d.version))
        ]

    def as_json(self) -> dict[str, Any]:
        now = time.time()
        distributions = []
        for dist in sorted(self.distributions.values(), key=lambda d: (d.name, d.version)):
            page = self.pages.get(str(canonicalize_name(dist.name)))
            index_data = None
            if page is not None:
                index_data = {
                    "source": page.source,
                    "fetched": _iso(page.fetched),
                    "age_seconds": round(now - page.fetched, 3),
                    "versions_listed": page.versions_listed,
                    "newest_listed": page.versions_listed[-1] if page.versions_listed else None,
                }
            distributions.append(
                {
                    "name": dist.name,
                    "version": dist.version,
                    "filename": dist.filename,
                    "source": dist.source,
                    "wheelhouse_path": dist.path,
                    "url": dist.url,
                    "sha256": dist.sha256,
                    "stale_index_data": page is not None,
                    "index_data": index_data,
                }
            )
        return {
            "version": SCHEMA_VERSION,
            "pip_ff_version": __version__,
            "pip_version": compat.PIP_VERSION_TEXT,
            "mode": self.mode,
            "fallback_engaged": self.engaged,
            "failed_requests": [{"url": u, "cause": c} for u, c in self.failed.items()],
            "unreachable": [
                {"host": compat.redact(h), "cause": c} for h, c in self.unreachable.items()
            ],
            "fallback_indexes": [
                {"url": compat.redact(u), "state": self._mirror_state(u)}
                for u in self.fallback_indexes
            ],
            "distributions": distributions,
            # What build isolation's pips received (an sdist's build backend), by source.
            "build_distributions": self.built,
            # Every project whose index data came from local sources, chosen or not (a listing
            # command chooses none): the summary names only those to act on.
            "index_data": [
                {
                    "project": page.project,
                    "source": page.source,
                    "fetched": _iso(page.fetched),
                    "age_seconds": round(now - page.fetched, 3),
                    "newest_listed": page.versions_listed[-1] if page.versions_listed else None,
                }
                for page in sorted(self.pages.values(), key=lambda p: p.project)
            ],
            "missing": [
                {
                    "requirement": f"{m.project}{m.specifier}",
                    "local_versions": m.local_versions,
                    "excluded_versions": m.excluded,
                }
                for m in self.missing.values()
            ],
            "too_old": [
                {"project": t.project, "age_seconds": round(t.age, 3), "max_stale_seconds": t.limit}
                for t in self.too_old.values()
            ],
        }

    def write_json(self, path: str) -> None:
        """Write the report atomically; a failure to write is logged, never raised. ``path`` a
        directory: a new file there for each run (tox's plugin counts one env's pips so)."""
        if os.path.isdir(path):
            path = os.path.join(path, f"pip-ff-report-{os.getpid()}-{time.time_ns()}.json")
        try:
            directory = os.path.dirname(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pipff-report-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.as_json(), f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except OSError as exc:
            logger.warning("pip-ff: could not write the report %s: %s", path, exc)
