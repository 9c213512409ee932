"""Where each answer came from: the sources of a response, and how one request was answered."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Source(str, enum.Enum):
    """Where a response came from; the value is its identifier in the JSON report."""

    NETWORK = "network"
    FALLBACK_INDEX = "fallback-index"
    PIP_CACHE = "pip-http-cache"
    RECORD = "pip-ff-record"
    WHEELHOUSE = "wheelhouse"
    WHEEL_CACHE = "pip-wheel-cache"
    # A file pip was pointed at on disk: a file:// index, a --find-links directory, a path.
    LOCAL_PATH = "local-path"
    # Outcomes that served nothing: local index data existed but was older than --max-stale,
    # or no source had the URL.
    TOO_OLD = "too-old"
    FAILED = "failed"

    def __str__(self) -> str:  # the identifier, on every Python (3.11 changed str() of enums)
        return self.value

    @property
    def served(self) -> bool:
        return self not in (Source.TOO_OLD, Source.FAILED)


@dataclass(frozen=True)
class Outcome:
    """How one request was answered."""

    url: str
    source: Source
    fetched: float = 0.0  # when the local data served was fetched
    forced: bool = False  # answered locally because the route is down or the mode is offline
