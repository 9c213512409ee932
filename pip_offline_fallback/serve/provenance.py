"""Where one of serve's answers came from: the index, a fallback mirror or a local source, and
how old a local answer is (the ``X-PipFF-Source`` header)."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.serve.pages import ProjectPage


@dataclass(frozen=True)
class Provenance:
    """Where an answer came from; ``fetched`` only for local answers."""

    source: Source
    fetched: float | None = None

    @property
    def local(self) -> bool:
        return self.source not in (Source.NETWORK, Source.FALLBACK_INDEX)


def provenance_header(provenance: Provenance) -> str:
    """``X-PipFF-Source`` of a local answer: its source and age."""
    fetched = provenance.fetched or 0.0
    when = datetime.datetime.fromtimestamp(fetched, datetime.timezone.utc).isoformat()
    age = max(0, int(time.time() - fetched))
    return f"{provenance.source.value}; age={age}; fetched={when}"


@dataclass
class PageAnswer:
    page: ProjectPage
    provenance: Provenance
    # Seconds serve's client may keep the page (see freshness.py); None: not at all.
    max_age: int | None = 0
