"""What the fallback did in this run, as facts: the records the report collects, and the
questions the summary lines and the JSON report both ask of them (did the fallback engage,
where did it happen, what became of each fallback index).

:mod:`.report` collects these while pip runs; :mod:`.summary` and :mod:`.reportfile` tell them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pip_offline_fallback import compat
from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.urls import host_of

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
PLAIN_PIP = (Source.NETWORK, Source.PIP_CACHE, Source.LOCAL_PATH)


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


class Findings:
    """Everything the run found, and what follows from it."""

    def __init__(self, *, mode: str, fallback_indexes: Iterable[str]) -> None:
        self.mode = mode
        self.offline_mode = mode == "offline"
        self.fallback_indexes: dict[str, str] = dict.fromkeys(fallback_indexes, "unused")
        self.unreachable: dict[str, str] = {}
        self.failed: dict[str, str] = {}  # URL (redacted) -> what the index did, after retries
        self.pages: dict[str, StalePage] = {}
        self.distributions: dict[str, Distribution] = {}
        self.missing: dict[str, Missing] = {}
        self.too_old: dict[str, TooOld] = {}
        self.specifiers: dict[str, set[str]] = {}
        # Set by the engine: whether its record holds anything from a host (None: this run has
        # no record, pip's cache being off), and the command's index hosts; for the hint.
        self.record_knows: Callable[[str], bool | None] = lambda host: True
        self.index_hosts: list[str] = []
        # What build isolation's pips received, as they counted it (see buildcount.py).
        self.built: list[dict[str, Any]] = []

    @property
    def engaged(self) -> bool:
        # pip's own HTTP cache answering an online run is plain pip, not a fallback.
        local = any(d.source not in PLAIN_PIP for d in self.distributions.values())
        return bool(
            self.unreachable
            or self.failed
            or self.pages
            or local
            or self.offline_mode
            or self.too_old
        )

    def pinned(self, project: str) -> bool:
        """Whether ``project`` was asked for at one exact version."""
        specs = self.specifiers.get(project, set())
        return any(s.startswith(("==", "===")) and "*" not in s and "," not in s for s in specs)

    def where(self) -> str:
        """Why local sources answered, in words: the hosts down, the URLs that failed."""
        causes = ", ".join(f"{compat.redact(h)} ({c})" for h, c in self.unreachable.items())
        if self.failed and not causes:
            failed = ", ".join(f"{u} ({c})" for u, c in self.failed.items())
            causes = f"the index failed: {failed}"
        chain = ", ".join(
            f"{compat.redact(u)} ({self.mirror_state(u)})" for u in self.fallback_indexes
        )
        if causes and not self.unreachable:
            return causes
        if causes and chain:
            return f"unreachable: {causes}; fallback indexes: {chain}"
        if causes:
            return f"unreachable: {causes}"
        return "offline mode" if self.offline_mode else "local index data"

    def mirror_state(self, url: str) -> str:
        """What became of one fallback index: unused, used, or unreachable."""
        for host in self.unreachable:
            if host_of(url) == host:
                return "unreachable"
        return self.fallback_indexes.get(url, "unused")

    def rows(self) -> list[dict[str, Any]]:
        """The distributions received, one row each, as a build environment's pip counts them."""
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
