"""pip's links and URLs: its ``Link``, its file URL helpers and its redaction of credentials.

Apart from :mod:`.finder` because serve needs these without pip's finder and resolver (which
importing the finder's module brings in, and a new serve need not wait for).
"""

from __future__ import annotations

import os
from typing import Any

from pip_offline_fallback.compat.probing import Probe, expect, first

Link: Any = first(("pip._internal.models.link", "Link"))
path_to_url: Any = first(("pip._internal.utils.urls", "path_to_url"))
url_to_path: Any = first(("pip._internal.utils.urls", "url_to_path"))
redact_auth_from_url: Any = first(("pip._internal.utils.misc", "redact_auth_from_url"))


def redact(url: str) -> str:
    try:
        return str(redact_auth_from_url(url))
    except Exception:
        return "<url>"


def link_sha256(link: Any) -> str | None:
    """The sha256 an index page lists for a link (``#sha256=`` or PEP 691's ``hashes``), if
    any: pip 23.0-26.x keep both in ``Link._hashes`` (probed in ``_links``)."""
    hashes = getattr(link, "_hashes", None)
    value = hashes.get("sha256") if isinstance(hashes, dict) else None
    return str(value).lower() if value else None


def _links() -> None:
    path = os.path.abspath("pip_ff_probe-1.0-py3-none-any.whl")
    url = path_to_url(path)
    expect(url_to_path(url) == path, "pip's path_to_url and url_to_path don't round-trip")
    expect(Link(url).filename == os.path.basename(path), "pip's Link has no filename")
    expect(
        link_sha256(Link(url + "#sha256=" + "AB" * 32)) == "ab" * 32,
        "pip's Link no longer keeps the hash an index page lists for it",
    )
    expect(
        redact("https://user:secret@index.invalid/") == "https://user:****@index.invalid/",
        "pip's redact_auth_from_url no longer hides a password",
    )


PROBES: dict[str, Probe] = {"pip's links": _links}
