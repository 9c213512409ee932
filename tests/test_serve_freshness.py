"""How long serve lets its clients keep a project page (serve/freshness.py, issue 32): as long
as the index lets a client going direct keep it, and a page answered while the index is down
no longer than a minute. The end-to-end check is in tests/test_serve.py."""

from __future__ import annotations

import pytest

from pip_offline_fallback.serve import freshness


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "max-age=600, public"}, 600),  # PyPI's pages
        ({"cache-control": "max-age=600, public", "age": "450"}, 150),  # from a CDN's cache
        ({"cache-control": "max-age=600", "age": "900"}, 0),
        ({"cache-control": "max-age=86400"}, freshness.CAP),
        ({"cache-control": "no-cache, max-age=600"}, 0),
        ({"cache-control": "no-store"}, None),  # devpi's
        ({"cache-control": "private, max-age=30"}, 30),
        ({"cache-control": 'max-age="45"'}, 45),
        ({"cache-control": "max-age=soon"}, 0),
        ({}, 0),  # no explicit freshness: the client asks again first
        ({"expires": "Thu, 01 Dec 2099 16:00:00 GMT"}, 0),
    ],
)
def test_a_page_is_kept_as_long_as_the_index_allows(
    headers: dict[str, str], expected: int | None
) -> None:
    assert freshness.index_max_age(headers) == expected


def test_a_local_page_is_kept_at_most_a_minute_and_never_longer_than_the_index_allows() -> None:
    assert freshness.offline(600) == freshness.OFFLINE_CAP == 60
    assert freshness.offline(30) == 30
    assert freshness.offline(0) == 0
    assert freshness.offline(None) is None
    assert freshness.header(600) == "max-age=600"
    assert freshness.header(0) == "max-age=0, must-revalidate"
    assert freshness.header(None) == "no-store"
