"""pip's package finder: the methods pip-ff wraps and the memo of candidates it clears (links
and URLs: :mod:`.links`)."""

from __future__ import annotations

import copy
from typing import Any

from pip_offline_fallback.compat.probing import Probe, expect, first, names_used

PackageFinder: Any = first(("pip._internal.index.package_finder", "PackageFinder"))
_LinkCollector: Any = first(("pip._internal.index.collector", "LinkCollector"))
_SearchScope: Any = first(("pip._internal.models.search_scope", "SearchScope"))
_SelectionPreferences: Any = first(("pip._internal.models.selection_prefs", "SelectionPreferences"))
# The resolver's candidate for a link: it checks the name and version a file's metadata gives
# against the link's, and pip discards the file when they differ ("Discarding ...").
CandidateFromLink: Any = first(
    ("pip._internal.resolution.resolvelib.candidates", "_InstallRequirementBackedCandidate")
)
METADATA_CHECK = "_check_metadata_consistency"
# What pip's link evaluator answers for a wheel whose tags don't fit the target (pip 23.0-26.x).
_LinkType: Any = first(("pip._internal.index.package_finder", "LinkType"))
_PLATFORM_MISMATCH = "platform_mismatch"


def candidate_url(candidate: Any) -> str | None:
    """The URL of the file a resolver candidate was made from."""
    return getattr(getattr(candidate, "_link", None), "url", None)


_MEMOISED = ("find_all_candidates", "find_best_candidate")
# pip >= 25 memoises per finder, in these dicts (keyed by name; by (name, specifier, hashes)).
_ALL_CANDIDATES = "_all_candidates"
_BEST_CANDIDATES = "_best_candidates"


def _lru_caches() -> list[Any]:
    """pip <= 24 memoises the two lookups with functools.lru_cache, only clearable whole."""
    caches = []
    for name in _MEMOISED:
        function = getattr(PackageFinder, name)
        # Under pip-ff's own wrapper (its __wrapped__ is the cache), or not wrapped at all.
        while function is not None and not callable(getattr(function, "cache_clear", None)):
            function = getattr(function, "__wrapped__", None)
        if function is not None:
            caches.append(function)
    return caches


def forget_candidates(finder: Any, project_name: str) -> None:
    """Drop pip's memory of a project's candidates, so that the next lookup fetches again."""
    for cache in _lru_caches():
        cache.cache_clear()
    all_candidates = finder.__dict__.get(_ALL_CANDIDATES)
    if isinstance(all_candidates, dict):
        all_candidates.pop(project_name, None)
    best = finder.__dict__.get(_BEST_CANDIDATES)
    if isinstance(best, dict):
        for key in [k for k in best if k and k[0] == project_name]:
            del best[key]


def format_option(finder: Any, project_name: str) -> str | None:
    """The option that keeps a kind of file of this project out (``--only-binary``,
    ``--no-binary``), or None when both wheels and sdists are allowed."""
    from pip._vendor.packaging.utils import canonicalize_name

    allowed = finder.format_control.get_allowed_formats(canonicalize_name(project_name))
    if "source" not in allowed:
        return "--only-binary"
    if "binary" not in allowed:
        return "--no-binary"
    return None


def without_format_control(finder: Any) -> Any:
    """A copy of ``finder`` that allows wheels and sdists alike, with memos of its own."""
    relaxed = copy.copy(finder)
    for memo in (_ALL_CANDIDATES, _BEST_CANDIDATES):
        if isinstance(relaxed.__dict__.get(memo), dict):
            relaxed.__dict__[memo] = {}
    relaxed.format_control = type(finder.format_control)(set(), set())
    return relaxed


class _WatchedEvaluator:
    """pip's link evaluator, noting each link it turns down for its platform (its tags)."""

    def __init__(self, evaluator: Any, skipped: list[Any]) -> None:
        self._evaluator = evaluator
        self._skipped = skipped

    def __getattr__(self, name: str) -> Any:
        return getattr(self._evaluator, name)

    def evaluate_link(self, link: Any) -> Any:
        result = self._evaluator.evaluate_link(link)
        if getattr(result[0], "name", None) == _PLATFORM_MISMATCH:
            self._skipped.append(link)
        return result


def watch_platform_skips(evaluator: Any, skipped: list[Any]) -> Any:
    """``evaluator`` for ``process_project_url``, appending to ``skipped`` every link of the
    page that pip turns down because no tag of it fits the target platform."""
    return _WatchedEvaluator(evaluator, skipped)


def supported_tags(finder: Any) -> Any:
    target = finder.target_python
    getter = getattr(target, "get_sorted_tags", None) or target.get_tags
    return getter()


_PROJECT = "pip-ff-probe"


def _empty_finder() -> Any:
    scope = _SearchScope.create(find_links=[], index_urls=[], no_index=True)
    collector = _LinkCollector(session=None, search_scope=scope)
    return PackageFinder.create(
        link_collector=collector, selection_prefs=_SelectionPreferences(allow_yanked=False)
    )


def _memo_size(finder: Any) -> int:
    memo = finder.__dict__.get(_ALL_CANDIDATES)
    size = len(memo) if isinstance(memo, dict) else 0
    return size + sum(cache.cache_info().currsize for cache in _lru_caches())


def _candidate_memo_clears() -> None:
    # finder.py's retries (a mirror that can't satisfy, prefer-offline's refresh) ask pip
    # again: if pip memoised elsewhere, the second answer would silently be the first.
    finder = _empty_finder()
    finder.find_all_candidates(_PROJECT)
    expect(_memo_size(finder), "pip's finder memoises candidates where pip-ff can't clear them")
    forget_candidates(finder, _PROJECT)
    expect(not _memo_size(finder), "pip's finder memo of candidates doesn't clear")
    best = PackageFinder.find_best_candidate
    expect(
        len(_lru_caches()) == len(_MEMOISED)
        or (
            isinstance(finder.__dict__.get(_BEST_CANDIDATES), dict)
            and _BEST_CANDIDATES in names_used(best)
        ),
        "pip's finder memoises best candidates where pip-ff can't clear them",
    )


def _finder_hooks() -> None:
    # finder.py's wrappers: process_project_url(self, project_url, link_evaluator), where the
    # evaluator names the project; evaluate_links(evaluator, links) for wheelhouse files.
    code = PackageFinder.process_project_url.__code__
    expect(
        code.co_varnames[:3] == ("self", "project_url", "link_evaluator"),
        "PackageFinder.process_project_url(project_url, link_evaluator) changed",
    )
    finder = _empty_finder()
    evaluator = finder.make_link_evaluator(_PROJECT)
    expect(evaluator.project_name == _PROJECT, "pip's link evaluator doesn't name its project")
    expect(finder.evaluate_links(evaluator, []) == [], "PackageFinder.evaluate_links changed")
    expect(format_option(finder, _PROJECT) is None, "pip's finder has no format control")
    expect(
        without_format_control(finder).find_all_candidates(_PROJECT) == [],
        "pip's finder can't be copied without its format control",
    )
    expect(hasattr(_LinkType, _PLATFORM_MISMATCH), "pip's LinkType has no platform_mismatch")
    # Read, not run: evaluating a wheel computes the target's tags (milliseconds).
    expect(
        "evaluate_link" in names_used(PackageFinder.get_install_candidate)
        and _PLATFORM_MISMATCH in names_used(type(evaluator).evaluate_link),
        "pip's link evaluator no longer says that a wheel's tags don't fit",
    )
    target = finder.target_python
    expect(
        callable(getattr(target, "get_sorted_tags", None) or getattr(target, "get_tags", None)),
        "pip's TargetPython has no tags",
    )


def _metadata_check() -> None:
    expect(
        callable(getattr(CandidateFromLink, METADATA_CHECK, None)),
        "pip's resolver candidates no longer check their metadata against the link",
    )
    expect(
        "_link" in names_used(CandidateFromLink.__init__),
        "pip's resolver candidates no longer keep their link",
    )


PROBES: dict[str, Probe] = {
    "pip's metadata check": _metadata_check,
    "pip's finder memo": _candidate_memo_clears,
    "pip's finder hooks": _finder_hooks,
}
