"""Why local sources fell short of one requirement, in the words of its error line.

The recorded index data knows more than "no local copy": it may list no such version at all
(then pip's own "no such version" is the answer, offline as online), or list the version that
would do while no file of it is local.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pip_offline_fallback.compat.vendored import InvalidSpecifier, InvalidVersion, SpecifierSet
from pip_offline_fallback.wording import age_text

if TYPE_CHECKING:
    from pip_offline_fallback.findings import Missing, StalePage


def _satisfying(specifier: str, versions: list[str]) -> list[str] | None:
    """The ``versions`` that satisfy ``specifier`` (pre-releases too: a listing, not a choice);
    None when the specifier can't be read."""
    try:
        wanted = SpecifierSet(specifier)
        return [v for v in versions if wanted.contains(v, prereleases=True)]
    except (InvalidSpecifier, InvalidVersion):
        return None


def explain(
    item: Missing, page: StalePage | None, now: float, source_words: str
) -> tuple[str, bool]:
    """The error line's text for ``item`` (without the closing "; unreachable: ..."), and
    whether a local copy would have helped (False: the index data lists no such version)."""
    missing = (
        f"no local copy satisfies {item.project}{item.specifier} "
        f"(local versions: {item.local_text})"
    )
    if page is None or not page.versions_listed:
        return missing, True
    recorded = f"recorded {age_text(now - page.fetched)} ago ({source_words})"
    listed = _satisfying(item.specifier, page.versions_listed)
    if listed is None:
        return missing, True
    if not listed:
        return (
            f"{item.project}'s index data, {recorded}, lists no version that satisfies "
            f"{item.specifier} (it lists {', '.join(page.versions_listed)})",
            False,
        )
    absent = [v for v in listed if v not in page.versions_local]
    if not absent:
        return missing, True
    return (
        f"{missing}; its index data, {recorded}, lists {absent[-1]}, and no file of it is local",
        True,
    )
