"""URLs and distribution file names: the one place each is taken apart.

``url_key`` names what the record files a body under, ``host_of`` the unit that goes down (and
the store's host markers), ``without_credentials`` what may be said or passed on,
``parse_dist_filename`` what a file is a distribution of.
"""

from __future__ import annotations

import functools
import re
import urllib.parse

from pip_offline_fallback.compat.vendored import (
    InvalidSdistFilename,
    InvalidVersion,
    InvalidWheelFilename,
    NormalizedName,
    Version,
    parse_sdist_filename,
    parse_wheel_filename,
)

# ``scheme://`` then anything but the path up to its last ``@``: the credentials of text
# urlsplit refuses.
_MALFORMED_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/]*@")

# url_key and host_of are asked several times per request (the route rule, the record, the
# checks, the report: about 7 url_key calls per response), each a urlsplit; a bounded memo
# makes the repeats dict look-ups (bounded: serve runs for days).
_MEMO = 4096


@functools.lru_cache(maxsize=_MEMO)
def url_key(url: str) -> str:
    """The URL an entry is filed under: no fragment, no credentials, lower-case scheme and host."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host.lower() + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))


@functools.lru_cache(maxsize=_MEMO)
def host_of(url: str) -> str:
    """``scheme://host:port`` of a URL, without credentials (default port filled in): the unit
    that goes down, and what the store's host markers are named for."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{host}:{port}"


def without_credentials(url: str, *, fragment: bool = True) -> str:
    """``url`` without its ``user:password@`` (a password may hold an unquoted ``@``), its
    host, port and case as they were; without its ``#fragment`` too unless ``fragment``.

    Never raises: text that is not a URL (an unclosed IPv6 bracket) loses whatever stands
    between its ``scheme://`` and the last ``@`` before the path, and is otherwise unchanged.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _MALFORMED_CREDENTIALS.sub(r"\1", url)
    if "@" not in parts.netloc and (fragment or not parts.fragment):
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit(
        parts._replace(netloc=netloc, fragment=parts.fragment if fragment else "")
    )


def filename_of(url: str) -> str:
    """The last path segment of a URL, unquoted (no query, no fragment): a distribution's file
    name, for a file link."""
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rsplit("/", 1)[-1])


def distribution_of(url: str) -> tuple[NormalizedName, Version] | None:
    """(canonical project name, version) of a distribution file's URL or of its PEP 658
    metadata file's; None for anything else."""
    name = filename_of(url)
    return parse_dist_filename(name[: -len(".metadata")] if name.endswith(".metadata") else name)


def is_distribution_url(url: str) -> bool:
    """A wheel, an sdist, or a wheel's PEP 658 metadata file (whose bytes never change)."""
    return distribution_of(url) is not None


def parse_dist_filename(filename: str) -> tuple[NormalizedName, Version] | None:
    """(canonical project name, version) of a wheel or sdist file name; None for anything else.

    pip accepts sdists as ``.tar.gz`` and ``.zip`` (other archive names are legacy pip's).
    """
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return name, version
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        # InvalidVersion: the packaging pip 23 vendors (21.3) lets a bad version through
        return None
    return None


def project_of(filename: str) -> NormalizedName | None:
    """The canonical project name of a distribution file name, or None if it isn't one."""
    parsed = parse_dist_filename(filename)
    return parsed[0] if parsed is not None else None
