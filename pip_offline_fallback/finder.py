"""The finder hooks: pip's PackageFinder, told which candidates exist locally during a fallback.

pip's LinkCollector swallows every error of an index page ("Could not fetch URL ... skipping"),
so the finder never learns that the index was unreachable: it sees "no versions". These hooks
watch each page fetch, and when a page had to come from local data they keep only candidates
whose files are local (a stale page may list versions that were never downloaded), and add the
wheelhouse's files for that project.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from pip_offline_fallback import compat
from pip_offline_fallback.compat.vendored import InvalidVersion, Version, canonicalize_name
from pip_offline_fallback.config import Mode
from pip_offline_fallback.findings import StalePage
from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.running import active_engine
from pip_offline_fallback.urls import filename_of, parse_dist_filename

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pip._internal.index.package_finder import (
        BestCandidateResult,
        LinkEvaluator,
        PackageFinder,
    )
    from pip._internal.models.candidate import InstallationCandidate
    from pip._internal.models.link import Link

    # The finder's methods these hooks wrap, as pip defines them.
    ProcessProjectUrl = Callable[[PackageFinder, Link, LinkEvaluator], list[InstallationCandidate]]
    FindAllCandidates = Callable[[PackageFinder, str], list[InstallationCandidate]]
    FindBestCandidate = Callable[..., BestCandidateResult]

logger = logging.getLogger(__name__)

_FALLBACK_PROJECTS = "_pipff_fallback_projects"
_LOCAL_PAGES = "_pipff_local_pages"
_MIRRORED_PAGES = "_pipff_mirrored_pages"
_WHEELHOUSE_CANDIDATES = "_pipff_wheelhouse_candidates"
# Versions with local wheels that pip turned down for their platform, by project.
_OTHER_PLATFORMS = "_pipff_other_platforms"
OTHER_PLATFORMS_ONLY = "local wheels for other platforms only"


def _fallback_projects(finder: PackageFinder) -> set[str]:
    projects: set[str] = finder.__dict__.setdefault(_FALLBACK_PROJECTS, set())
    return projects


def wrap_process_project_url(original: ProcessProjectUrl) -> ProcessProjectUrl:
    def process_project_url(
        self: PackageFinder, project_url: Link, link_evaluator: LinkEvaluator
    ) -> list[InstallationCandidate]:
        engine = active_engine()
        if engine is None:
            return original(self, project_url, link_evaluator)
        project = link_evaluator.project_name
        skipped: list[Link] = []  # wheels pip turns down for their platform
        watched = compat.watch_platform_skips(link_evaluator, skipped)
        with engine.watching(project) as outcomes:
            try:
                candidates = original(self, project_url, watched)
            except Exception as exc:
                # A page pip can't parse is an error of the index, unless it came from local data
                # (a damaged cache entry or record): then it is skipped, like a missing page.
                if not any(o.source in (Source.PIP_CACHE, Source.RECORD) for o in outcomes):
                    raise
                logger.warning(
                    "pip-ff: the local copy of %s's index page is unreadable (%s); skipping it",
                    project,
                    type(exc).__name__,
                )
                candidates = []
        # The record keeps only files that match the hashes the page lists.
        engine.expect_hashes(c.link for c in candidates)
        name = str(canonicalize_name(project))
        if any(o.source is Source.FALLBACK_INDEX for o in outcomes):
            mirrored = self.__dict__.setdefault(_MIRRORED_PAGES, {})
            mirrored.setdefault(name, set()).add(project_url.url)
        # Not the index's answer (pip's cache, the record, a mirror) though the index was not down.
        chosen = [
            o
            for o in outcomes
            if not o.forced and o.source.served and o.source is not Source.NETWORK
        ]
        if chosen:  # prefer-offline answered from local data by choice
            pages = self.__dict__.setdefault(_LOCAL_PAGES, {})
            pages.setdefault(canonicalize_name(project), set()).update(o.url for o in chosen)
            # How old that data is belongs in the summary and the report, as for a fallback.
            engine.report.stale_page(
                StalePage(
                    project=name,
                    source=chosen[0].source,
                    fetched=chosen[0].fetched,
                    versions_listed=_versions(candidates),
                    versions_local=_versions(candidates),
                )
            )
        elif any(o.source is Source.NETWORK for o in outcomes) and not any(
            o.forced for o in outcomes
        ):
            engine.report.fresh_page(name)
        for outcome in outcomes:
            if outcome.source is Source.TOO_OLD and engine.settings.max_stale is not None:
                engine.report.index_data_too_old(
                    str(canonicalize_name(project)),
                    time.time() - outcome.fetched,
                    engine.settings.max_stale,
                )
        forced = [o for o in outcomes if o.forced]
        if not forced:
            return candidates
        _fallback_projects(self).add(canonicalize_name(project))
        local = [o for o in forced if o.source.served]
        if not local:
            return candidates
        try:
            available = engine.available_links(self, [c.link for c in candidates], project)
            kept = [c for c, local in zip(candidates, available) if local]
            if skipped:
                local_elsewhere = engine.available_links(self, skipped, project)
                other_platforms = self.__dict__.setdefault(_OTHER_PLATFORMS, {})
                other_platforms.setdefault(name, set()).update(
                    version_of(link) for link, local in zip(skipped, local_elsewhere) if local
                )
        except Exception as exc:
            logger.warning("pip-ff: could not tell which files of %s are local: %r", project, exc)
            return candidates
        engine.report.stale_page(
            StalePage(
                project=str(canonicalize_name(project)),
                source=local[0].source,
                fetched=local[0].fetched,
                versions_listed=_versions(candidates),
                versions_local=_versions(kept),
            )
        )
        if engine.listing_only:
            # `pip list --outdated`, `pip index versions`: they report what the index data
            # lists (and the summary says how old it is); nothing is installed from it.
            return candidates
        return kept

    return process_project_url


def wrap_find_all_candidates(original: FindAllCandidates) -> FindAllCandidates:
    def find_all_candidates(self: PackageFinder, project_name: str) -> list[InstallationCandidate]:
        candidates = original(self, project_name)
        engine = active_engine()
        if engine is None:
            return candidates
        name = canonicalize_name(project_name)
        if engine.settings.mode is not Mode.OFFLINE and name not in _fallback_projects(self):
            return candidates
        memo: dict[str, Any] = self.__dict__.setdefault(_WHEELHOUSE_CANDIDATES, {})
        if name not in memo:
            try:
                links = engine.wheelhouse_links(project_name)
                memo[name] = (
                    self.evaluate_links(self.make_link_evaluator(project_name), links)
                    if links
                    else []
                )
            except Exception as exc:
                logger.debug("pip-ff: wheelhouse lookup for %s failed: %r", project_name, exc)
                memo[name] = []
        extra = memo[name]
        found = [*extra, *candidates] if extra else candidates
        if not found:  # `pip index versions` asks this alone: its failure needs pip-ff's reason
            engine.report.requirement_missing(str(name), "", [])
        return found

    return find_all_candidates


def wrap_find_best_candidate(original: FindBestCandidate) -> FindBestCandidate:
    def find_best_candidate(
        self: PackageFinder, project_name: str, *args: Any, **kwargs: Any
    ) -> BestCandidateResult:
        result = original(self, project_name, *args, **kwargs)
        engine = active_engine()
        if engine is None:
            return result
        specifier = kwargs.get("specifier", args[0] if args else None)
        engine.report.specifier_seen(project_name, str(specifier or ""))
        if result.best_candidate is not None:
            return result
        name = canonicalize_name(project_name)
        mirrored = self.__dict__.get(_MIRRORED_PAGES, {}).pop(name, None)
        if mirrored and engine.chain.pass_over(mirrored):
            # A live mirror's page can't satisfy this (a devpi that lost its upstream lists only
            # what it holds): the record of the primary answers instead, if it can.
            _forget(self, project_name)
            result = original(self, project_name, *args, **kwargs)
            if result.best_candidate is not None:
                return result
        pages = self.__dict__.get(_LOCAL_PAGES, {}).pop(name, None)
        if pages and engine.refresh(pages):
            # prefer-offline: the local index data can't satisfy this; ask the index before failing.
            _forget(self, project_name)
            result = original(self, project_name, *args, **kwargs)
            if result.best_candidate is not None:
                return result
        if engine.settings.mode is not Mode.OFFLINE and canonicalize_name(
            project_name
        ) not in _fallback_projects(self):
            return result
        local = _versions(self.find_all_candidates(project_name))
        elsewhere = self.__dict__.get(_OTHER_PLATFORMS, {}).get(name, set()) - {None, *local}
        engine.report.requirement_missing(
            str(canonicalize_name(project_name)),
            str(specifier or ""),
            local,
            [
                *excluded_versions(self, project_name),
                *(f"{v} ({OTHER_PLATFORMS_ONLY})" for v in _sorted_versions(elsewhere)),
            ],
        )
        return result

    return find_best_candidate


def excluded_versions(finder: PackageFinder, project_name: str) -> list[str]:
    """The local versions ``--only-binary``/``--no-binary`` keep out, each with the option
    (``1.0 (excluded by --only-binary)``): "local versions: none" would hide a local sdist."""
    option = compat.format_option(finder, project_name)
    engine = active_engine()
    if option is None or engine is None:
        return []
    try:
        relaxed = compat.without_format_control(finder)
        for memo in (_FALLBACK_PROJECTS, _LOCAL_PAGES, _MIRRORED_PAGES, _WHEELHOUSE_CANDIDATES):
            relaxed.__dict__.pop(memo, None)  # its own: the copy must not share them
        with engine.report.ignoring():  # a second look, not the command's lookup
            every = {c.version for c in relaxed.find_all_candidates(project_name)}
        offered = {c.version for c in finder.find_all_candidates(project_name)}
    except Exception as exc:
        logger.debug("pip-ff: could not look past %s for %s: %r", option, project_name, exc)
        return []
    return [f"{v} (excluded by {option})" for v in sorted(every - offered)]


def _forget(finder: PackageFinder, project_name: str) -> None:
    """Drop pip's memory of a project's candidates (and pip-ff's of its wheelhouse files), so
    that the next lookup fetches again."""
    compat.forget_candidates(finder, project_name)
    finder.__dict__.get(_WHEELHOUSE_CANDIDATES, {}).pop(canonicalize_name(project_name), None)


def _versions(candidates: Iterable[InstallationCandidate]) -> list[str]:
    return [str(v) for v in sorted({c.version for c in candidates})]


def version_of(link: Link) -> str | None:
    parsed = parse_dist_filename(filename_of(link.url))
    return str(parsed[1]) if parsed is not None else None


def _sorted_versions(versions: set[str]) -> list[str]:
    try:
        return sorted(versions, key=Version)
    except InvalidVersion:
        return sorted(versions)
