"""Serve's pages: a project page (:mod:`pip_offline_fallback.pages`'s model) rendered as PEP 503
HTML or PEP 691 JSON, and which of the two a client asked for.

Rendering writes the facts parsing kept back, with each file's URL replaced by serve's own.
Nothing is invented: a field upstream did not give is left out (an ``upload-time`` made up from
a file's mtime would defeat uv's ``exclude-newer`` and pip's ``--uploaded-prior-to``).
"""

from __future__ import annotations

import html
import json
from typing import Any

# The model and its parser live in pip_offline_fallback.pages (every check of a page uses the
# same one); re-exported here for serve's modules.
from pip_offline_fallback.pages import (
    HTML_TYPE,
    JSON_TYPE,
    FileLink,
    PageError,
    ProjectPage,
    Yanked,
    parse,
)

__all__ = [
    "HTML_TEXT",
    "HTML_TYPE",
    "JSON_TYPE",
    "FileLink",
    "PageError",
    "ProjectPage",
    "Yanked",
    "negotiate",
    "parse",
    "render_html",
    "render_json",
    "render_root",
]

API_VERSION = "1.1"


def render_json(page: ProjectPage) -> bytes:
    files: list[dict[str, Any]] = []
    for f in page.files:
        entry: dict[str, Any] = {"filename": f.filename, "url": f.url, "hashes": {}}
        if f.sha256:
            entry["hashes"] = {"sha256": f.sha256}
        if f.requires_python:
            entry["requires-python"] = f.requires_python
        entry["yanked"] = f.yanked
        if f.has_metadata:
            # PEP 714's key only: "dist-info-metadata" breaks pip 22.3 to 23.0.
            entry["core-metadata"] = {"sha256": f.metadata_sha256} if f.metadata_sha256 else True
        if f.size is not None:
            entry["size"] = f.size
        if f.upload_time is not None:
            entry["upload-time"] = f.upload_time
        files.append(entry)
    # api-version 1.1 (PEP 700) promises a size on every file and a versions list: said only
    # when upstream gave every size, as proxpi does.
    sized = all(f.size is not None for f in page.files)
    document: dict[str, Any] = {
        "meta": {"api-version": API_VERSION if sized else "1.0"},
        "name": page.name,
        "files": files,
    }
    if sized:
        document["versions"] = _versions(page)
    return json.dumps(document).encode()


def _versions(page: ProjectPage) -> list[str]:
    from pip_offline_fallback.urls import parse_dist_filename

    seen: list[str] = []
    for f in page.files:
        parsed = parse_dist_filename(f.filename)
        if parsed is not None and str(parsed[1]) not in seen:
            seen.append(str(parsed[1]))
    return seen


def render_html(page: ProjectPage) -> bytes:
    lines = []
    for f in page.files:
        href = f.url + (f"#sha256={f.sha256}" if f.sha256 else "")
        attributes = [f'href="{html.escape(href)}"']
        if f.requires_python:
            attributes.append(f'data-requires-python="{html.escape(f.requires_python)}"')
        if f.yanked is not False:
            reason = f.yanked if isinstance(f.yanked, str) else ""
            attributes.append(f'data-yanked="{html.escape(reason)}"')
        if f.has_metadata:
            value = f"sha256={f.metadata_sha256}" if f.metadata_sha256 else "true"
            attributes.append(f'data-core-metadata="{value}"')
            attributes.append(f'data-dist-info-metadata="{value}"')
        lines.append(f"    <a {' '.join(attributes)}>{html.escape(f.filename)}</a><br />")
    name = html.escape(page.name)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>Links for {name}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {name}</h1>\n" + "\n".join(lines) + "\n  </body>\n</html>\n"
    ).encode()


def render_root(names: list[str], fmt: str) -> bytes:
    if fmt == "json":
        document = {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}
        return json.dumps(document).encode()
    links = "\n".join(f'    <a href="{html.escape(n)}/">{html.escape(n)}</a><br />' for n in names)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        "    <title>Simple index</title>\n  </head>\n  <body>\n" + links + "\n  </body>\n</html>\n"
    ).encode()


def negotiate(accept: str | None) -> tuple[str, str] | None:
    """(``json`` or ``html``, the exact Content-Type) by the Accept header: JSON whenever it is
    acceptable at the same or a higher quality; None when neither is acceptable (406)."""
    if not accept or not accept.strip():
        return "html", HTML_TEXT
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for offer in _OFFERS.get(media.lower(), ()):
            rank = (q, 1 if offer == JSON_TYPE else 0, offer)
            if q > 0 and (best is None or rank > best):
                best = rank
    if best is None:
        return None
    return ("json" if best[2] == JSON_TYPE else "html"), best[2]


HTML_TEXT = "text/html; charset=utf-8"
# What each Accept media range lets serve answer with.
_OFFERS: dict[str, tuple[str, ...]] = {
    JSON_TYPE: (JSON_TYPE,),
    HTML_TYPE: (HTML_TYPE,),
    "text/html": (HTML_TEXT,),
    "text/*": (HTML_TEXT,),
    "application/*": (JSON_TYPE, HTML_TYPE),
    "*/*": (JSON_TYPE, HTML_TEXT),
}
