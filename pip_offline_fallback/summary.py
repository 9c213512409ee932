"""The lines that tell the user what the fallback did, once, at the end of the command.

They go through logging, so pip shows them at its own verbosity: the summary is hidden by
``-q``; ``-v`` adds a line per distribution. A command that failed gets, instead, why local
sources fell short of each requirement, and what would have given a local copy.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from pip_offline_fallback import compat, shortfall
from pip_offline_fallback.compat.vendored import InvalidVersion, Version, canonicalize_name
from pip_offline_fallback.findings import SOURCE_WORDS, VERBOSE, Findings, StalePage
from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.urls import host_of
from pip_offline_fallback.wording import age_text

logger = logging.getLogger(__name__)


def tell(findings: Findings, status: int) -> None:
    """The summary (the command succeeded) or why local sources fell short; nothing at all
    when the fallback did not engage."""
    if not findings.engaged:
        return
    if status == 0:
        _summary(findings)
    else:
        _errors(findings)


def _older(version: str | None, newest: str | None) -> bool:
    """Whether the chosen ``version`` is older than the ``newest`` the index data lists."""
    if version is None or newest is None:
        return False
    try:
        return Version(version) < Version(newest)
    except InvalidVersion:
        return False


def _summary(findings: Findings) -> None:
    counts = Counter(d.source for d in findings.distributions.values())
    sources = ", ".join(f"{n} from {SOURCE_WORDS.get(s, s)}" for s, n in sorted(counts.items()))
    network = counts.get(Source.NETWORK, 0)
    if network and network < sum(counts.values()):
        finished = "local sources and the network"  # prefer-offline fetched what was missing
    elif network:
        finished = "the network"
    else:
        finished = "local sources"
    built = Counter(str(row.get("source", "")) for row in findings.built)
    if built:
        words = {str(s): w for s, w in SOURCE_WORDS.items()}
        in_builds = ", ".join(f"{n} from {words.get(s, s)}" for s, n in sorted(built.items()))
        sources = f"{sources or 'none needed'}; build environments: {in_builds}"
    logger.info(
        "pip-ff: finished from %s (%s); distributions: %s",
        finished,
        findings.where(),
        sources or "none needed",
    )
    _index_data_lines(findings)


def _index_data_lines(findings: Findings) -> None:
    """A line for each project where a newer version is known but was not chosen (what the
    user may act on), one for how old the local index data is; ``-v`` adds every project."""
    now = time.time()
    chosen = {str(canonicalize_name(d.name)): d.version for d in findings.distributions.values()}
    told: list[StalePage] = []  # the projects whose index data matters: not exact pins
    untold = 0  # of those, how many had no line of their own
    for page in findings.pages.values():
        version = chosen.get(page.project)
        newest = page.versions_listed[-1] if page.versions_listed else None
        pinned = findings.pinned(page.project) and version is not None
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


def _errors(findings: Findings) -> None:
    where = findings.where()
    for old in findings.too_old.values():
        logger.error(
            "pip-ff: index data for %s is %s old, %s more than --max-stale allows (%s)",
            old.project,
            age_text(old.age),
            age_text(old.age - old.limit),
            age_text(old.limit),
        )
    now = time.time()
    copies_would_help = bool(findings.too_old)
    for item in findings.missing.values():
        if item.project in findings.too_old:
            continue
        page = findings.pages.get(item.project)
        words = SOURCE_WORDS.get(page.source, page.source) if page else ""
        text, copy_helps = shortfall.explain(item, page, now, words)
        copies_would_help = copies_would_help or copy_helps
        logger.error("pip-ff: %s; %s", text, where)
    if copies_would_help:
        logger.error(
            "pip-ff: %s, or put the files in a wheelhouse (--wheelhouse DIR)", _hint(findings)
        )


def _hint(findings: Findings) -> str:
    """What would have given a local copy: the record says when pip's cache (and so the
    record) was off, now or while the index answered."""
    online = "run the command once while the index is reachable"
    if not findings.missing:
        return online
    hosts = list(findings.unreachable) or list(dict.fromkeys(map(host_of, findings.failed)))
    known = {host: findings.record_knows(host) for host in hosts or findings.index_hosts}
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
