"""The index page model: a project's files as PEP 503 HTML or PEP 691 JSON said them.

Parsing keeps what installers rely on (the sha256, ``requires-python``, PEP 658/714 core
metadata, ``yanked``, and, from JSON only, ``size`` and ``upload-time``); rendering writes the
same facts back, with each file's URL replaced by serve's own. Nothing is invented: a field
upstream did not give is left out (an ``upload-time`` made up from a file's mtime would defeat
uv's ``exclude-newer`` and pip's ``--uploaded-prior-to``).
"""

from __future__ import annotations

import html
import json
import urllib.parse
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import Any, Union

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
API_VERSION = "1.1"

Yanked = Union[bool, str]


@dataclass(frozen=True)
class FileLink:
    """One file of a project page; ``url`` is absolute (upstream's, or serve's once rewritten)."""

    filename: str
    url: str
    sha256: str | None = None
    requires_python: str | None = None
    yanked: Yanked = False
    metadata_sha256: str | None = None
    has_metadata: bool = False  # PEP 658 metadata exists (with or without a hash)
    size: int | None = None
    upload_time: str | None = None


@dataclass(frozen=True)
class ProjectPage:
    name: str
    files: tuple[FileLink, ...]

    def with_files(self, files: list[FileLink]) -> ProjectPage:
        return replace(self, files=tuple(files))

    def file(self, filename: str) -> FileLink | None:
        return next((f for f in self.files if f.filename == filename), None)


class PageError(ValueError):
    """An answer that is no index page."""


def parse(body: bytes, content_type: str, base_url: str, name: str) -> ProjectPage:
    """A project page from upstream's bytes; relative links resolve against ``base_url``."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == JSON_TYPE:
        return _parse_json(body, base_url, name)
    if kind in (HTML_TYPE, "text/html", ""):
        return _parse_html(body, base_url, name)
    raise PageError(f"not an index page ({kind})")


def _split_hash(url: str) -> tuple[str, str | None]:
    base, _, fragment = url.partition("#")
    algo, _, value = fragment.partition("=")
    return base, (value.lower() if algo.lower() == "sha256" and value else None)


def _metadata(value: Any) -> tuple[bool, str | None]:
    if isinstance(value, dict):
        sha = value.get("sha256")
        return True, str(sha).lower() if sha else None
    if isinstance(value, str):
        algo, _, sha = value.partition("=")
        return True, sha.lower() if algo.lower() == "sha256" and sha else None
    return bool(value), None


def _parse_json(body: bytes, base_url: str, name: str) -> ProjectPage:
    try:
        document = json.loads(body)
        raw_files = document["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PageError(f"not a PEP 691 page: {exc}") from None
    files: list[FileLink] = []
    for item in raw_files:
        if not isinstance(item, dict) or "filename" not in item or "url" not in item:
            continue
        url, fragment_sha = _split_hash(urllib.parse.urljoin(base_url, str(item["url"])))
        hashes = item.get("hashes") or {}
        sha = hashes.get("sha256") if isinstance(hashes, dict) else None
        # PEP 714: core-metadata; the Warehouse-era key as a fallback; never dist-info-metadata.
        meta = item.get("core-metadata", item.get("data-dist-info-metadata"))
        has_metadata, meta_sha = _metadata(meta)
        yanked = item.get("yanked", False)
        size = item.get("size")
        upload = item.get("upload-time")
        files.append(
            FileLink(
                filename=str(item["filename"]),
                url=url,
                sha256=str(sha).lower() if sha else fragment_sha,
                requires_python=str(item["requires-python"])
                if item.get("requires-python")
                else None,
                yanked=yanked if isinstance(yanked, (bool, str)) else bool(yanked),
                metadata_sha256=meta_sha,
                has_metadata=has_metadata,
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                upload_time=str(upload) if isinstance(upload, str) and upload else None,
            )
        )
    return ProjectPage(str(document.get("name") or name), tuple(files))


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.base: str | None = None
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), []
        elif tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.anchors.append((self._open, "".join(self._text).strip()))
            self._open = None


def _parse_html(body: bytes, base_url: str, name: str) -> ProjectPage:
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    base = urllib.parse.urljoin(base_url, parser.base) if parser.base else base_url
    files: list[FileLink] = []
    for attrs, text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, sha = _split_hash(urllib.parse.urljoin(base, href))
        filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        meta_attr = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        has_metadata, meta_sha = (
            (False, None) if meta_attr is None else _metadata(meta_attr or "true")
        )
        yanked_attr = "data-yanked" in attrs
        files.append(
            FileLink(
                filename=filename or text,
                url=url,
                sha256=sha,
                requires_python=attrs.get("data-requires-python") or None,
                yanked=(attrs.get("data-yanked") or True) if yanked_attr else False,
                metadata_sha256=meta_sha,
                has_metadata=has_metadata,
            )
        )
    return ProjectPage(name, tuple(files))


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
