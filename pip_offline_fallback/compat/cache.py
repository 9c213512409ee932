"""pip's caches on disk: where its HTTP cache files a URL, how an entry reads back, and its
wheel cache (wheels pip built from sdists)."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

from pip._vendor.cachecontrol.controller import CacheController
from pip._vendor.cachecontrol.serialize import Serializer
from pip._vendor.requests import PreparedRequest
from pip._vendor.urllib3.response import HTTPResponse

from pip_offline_fallback.compat.probing import Probe, expect, first

SafeFileCache: Any = first(("pip._internal.network.cache", "SafeFileCache"))
WheelCache: Any = first(("pip._internal.cache", "WheelCache"))

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


def wheel_cache_has(cache_dir: str, link: Any, name: str, tags: Any) -> bool:
    """Whether pip's wheel cache holds a wheel built from this (sdist) link for these tags."""
    if WheelCache is None:
        return False
    try:
        cache = WheelCache(cache_dir)
    except TypeError:  # pip < 23.1 also wanted a FormatControl
        cache = WheelCache(cache_dir, None)
    get_cache_entry = getattr(cache, "get_cache_entry", None)
    if get_cache_entry is None:
        return False
    return get_cache_entry(link, name, tags) is not None


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
    expect(
        callable(getattr(WheelCache, "get_cache_entry", None)),
        "pip's WheelCache has no get_cache_entry",
    )


PROBES: dict[str, Probe] = {
    "pip's HTTP cache key": _http_cache_key_path,
    "pip's HTTP cache entries": _http_cache_entry_reads_back,
    "pip's wheel cache": _wheel_cache,
}
