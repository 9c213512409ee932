"""pip's caches on disk: where its HTTP cache files a URL, how an entry reads back, and its
wheel cache (wheels pip built from sdists)."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any, Callable

from pip._vendor.cachecontrol.controller import CacheController
from pip._vendor.cachecontrol.serialize import Serializer
from pip._vendor.requests import PreparedRequest
from pip._vendor.urllib3.response import HTTPResponse

from pip_offline_fallback.compat.probing import Probe, expect, first

SafeFileCache: Any = first(("pip._internal.network.cache", "SafeFileCache"))
SimpleWheelCache: Any = first(("pip._internal.cache", "SimpleWheelCache"))
FormatControl: Any = first(("pip._internal.models.format_control", "FormatControl"))
Link: Any = first(("pip._internal.models.link", "Link"))

# pip 23.3+ writes ``http-v2`` (the body beside the entry, in ``<path>.body``); older pips
# wrote ``http`` (the body inside the entry).
HTTP_CACHE_LAYOUTS = ("http-v2", "http")


def http_cache_path(directory: str, url: str) -> str:
    """Where pip's HTTP cache in ``directory`` files ``url``: CacheControl's key (the
    normalised URL), hashed with sha224 and split into five one-character directories, as
    pip's SafeFileCache does."""
    key = CacheController.cache_url(url)
    hashed = hashlib.sha224(key.encode()).hexdigest()
    return os.path.join(directory, *hashed[:5], hashed)


def load_http_cache_entry(request: Any, data: bytes, body: Any) -> Any:
    """An HTTP cache entry as the urllib3 response it stores (None: unusable for ``request``)."""
    return Serializer().loads(request, data, body)


class BuiltWheels:
    """pip's wheel cache in one cache directory: does it hold a wheel built from an sdist link?

    Made once per run and directory, and asked per link. Only the persistent half of pip's
    ``WheelCache`` is asked: its ephemeral half is a temporary directory of its own, made anew by
    every ``WheelCache`` (a mkdtemp each) and empty for any lookup but pip's own.
    """

    def __init__(self, cache_dir: str) -> None:
        self.root = os.path.join(cache_dir, "wheels")
        try:
            self._cache = SimpleWheelCache(cache_dir)
        except TypeError:  # pip < 23.1 also wanted a FormatControl
            self._cache = SimpleWheelCache(cache_dir, FormatControl())

    def exists(self) -> bool:
        """Whether pip ever built a wheel into this cache (asked once per page, not per link)."""
        return os.path.isdir(self.root)

    def has(self, link: Any, name: str, tags: Callable[[], Any]) -> bool:
        """Whether a wheel built from ``link`` for one of ``tags()`` is cached.

        pip looks only in the link's own directory (a hash of its URL): where that directory is
        missing, as it is for nearly every link, pip's lookup (which makes a set of every
        supported tag, about a thousand) is not needed to say no.
        """
        if not os.path.isdir(self._cache.get_path_for_link(link)):
            return False
        return self._cache.get(link, name, tags()) is not link


# Upper case, a default port and a fragment: what CacheControl normalises away.
_URL = "HTTPS://Index.Invalid:443/simple/pip-ff/"


def _http_cache_key_path() -> None:
    directory = os.path.join(os.sep, "pip-ff-probe")
    expect(
        SafeFileCache(directory)._get_cache_path(CacheController.cache_url(_URL))
        == http_cache_path(directory, _URL),
        "pip's HTTP cache files a URL elsewhere than pip-ff looks",
    )


def _http_cache_entry_reads_back() -> None:
    request = PreparedRequest()
    request.method, request.url, request.headers = "GET", _URL, {}  # type: ignore[assignment]
    body = b"pip-ff"
    response = HTTPResponse(
        body=io.BytesIO(body),
        headers={"content-length": str(len(body))},
        status=200,
        preload_content=False,
        decode_content=False,
    )
    data = Serializer().dumps(request, response, body)
    raw = load_http_cache_entry(request, data, None)
    expect(
        raw is not None and raw.status == 200 and raw.read() == body,
        "pip's HTTP cache entries no longer read back",
    )


def _wheel_cache() -> None:
    directory = os.path.join(os.sep, "pip-ff-probe")
    built = BuiltWheels(directory)
    link = Link("https://index.invalid/files/pip-ff-1.0.tar.gz")
    expect(
        built._cache.get_path_for_link(link).startswith(built.root + os.sep),
        "pip's wheel cache files wheels elsewhere than pip-ff looks",
    )
    expect(
        built._cache.get(link, "pip-ff", []) is link and not built.has(link, "pip-ff", list),
        "pip's wheel cache no longer answers a link it holds nothing for with the link itself",
    )


PROBES: dict[str, Probe] = {
    "pip's HTTP cache key": _http_cache_key_path,
    "pip's HTTP cache entries": _http_cache_entry_reads_back,
    "pip's wheel cache": _wheel_cache,
}
