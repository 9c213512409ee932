"""How long a client may keep one of serve's project pages without asking again.

Online, serve asks the index for every page request (``Cache-Control: max-age=0``), so what it
answers is as fresh as the index's own answer, and its client may keep it as long as the index
lets a client keep the page going direct: the index's ``max-age`` less the answer's ``Age``,
never more than :data:`CAP`. A client then asks serve as often as it would ask the index (uv's
warm cache asks nothing for ten minutes against PyPI, and the same through serve), and never
keeps a page longer than going direct would.

A page answered from local sources while the index is down lists only the local files: a
client should not keep it once the index answers again. It gets at most :data:`OFFLINE_CAP`,
and no more than the index's own freshness last seen by this serve (0 when none was seen).
"""

from __future__ import annotations

from collections.abc import Mapping

CAP = 600  # PyPI's max-age for its pages; a longer one is cut to this
OFFLINE_CAP = 60
ALWAYS_ASK = "max-age=0, must-revalidate"


def index_max_age(headers: Mapping[str, str]) -> int | None:
    """Seconds the index's answer may be kept without asking again (0: ask every time);
    None: it must not be stored at all (``no-store``)."""
    directives: dict[str, str] = {}
    for part in (headers.get("cache-control") or "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives:
        return None
    if "no-cache" in directives or "max-age" not in directives:
        return 0  # no explicit freshness: a client that keeps it asks again first
    try:
        max_age = int(directives["max-age"])
        age = int(headers.get("age") or 0)
    except ValueError:
        return 0
    return max(0, min(max_age - max(age, 0), CAP))


def header(max_age: int | None) -> str:
    """The Cache-Control serve sends for a page its client may keep ``max_age`` seconds."""
    if max_age is None:
        return "no-store"
    return f"max-age={max_age}" if max_age > 0 else ALWAYS_ASK


def offline(last_seen: int | None) -> int | None:
    """A local page's freshness, given the index's last seen (None: not stored)."""
    if last_seen is None:
        return None
    return min(last_seen, OFFLINE_CAP)
