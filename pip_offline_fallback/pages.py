"""The index page model, and the one parser of index pages every check uses.

A project's files as PEP 503 HTML or PEP 691 JSON said them. The HTML is read the way pip reads
it (:mod:`html.parser`, an anchor counted at its start tag, attribute values quoted or not, the
first ``<base href>``), so the portal doubt, the mirror clash, the record's inventory and serve
see exactly the links pip sees.

Parsing keeps what installers rely on (the sha256, ``requires-python``, PEP 658/714 core
metadata, ``yanked``, and, from JSON only, ``size`` and ``upload-time``). Nothing is invented: a
field upstream did not give is left out.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import Union

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"

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
    """A project page from upstream's bytes; relative links resolve against ``base_url``.

    The content type decides, as for pip: PEP 691 JSON, or HTML (``text/html``, PEP 691's HTML
    type, or none given); anything else is no index page (:class:`PageError`).
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == JSON_TYPE:
        return _parse_json(body, base_url, name)
    if kind in (HTML_TYPE, "text/html", ""):
        return _parse_html(body, base_url, name, _charset(content_type))
    raise PageError(f"not an index page ({kind})")


def parse_any(body: bytes, base_url: str, name: str = "") -> ProjectPage:
    """A page whose content type isn't known (a record's body, say): PEP 691 JSON when the
    body is a JSON object, else HTML."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict):
        return _parse_json(body, base_url, name)
    return _parse_html(body, base_url, name, None)


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _split_hash(url: str) -> tuple[str, str | None]:
    """(the URL without its fragment, the fragment's sha256): pip reads ``sha256=`` among
    other ``&``-separated fragment parameters."""
    base, _, fragment = url.partition("#")
    for part in fragment.split("&"):
        algo, _, value = part.partition("=")
        if algo.lower() == "sha256" and value:
            return base, value.lower()
    return base, None


def _metadata(value: object) -> tuple[bool, str | None]:
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
    if not isinstance(raw_files, list):
        raise PageError("not a PEP 691 page: its files are no list")
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
    """Anchors as pip's HTMLLinkParser finds them: each at its start tag (a missing ``</a>``
    loses nothing), with its text when it is closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], list[str]]] = []
        self.base: str | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._text = []
            self.anchors.append((dict(attrs), self._text))
        elif tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._text = None


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", "replace")
    except LookupError:  # a charset Python doesn't know
        return body.decode("utf-8", "replace")


def _parse_html(body: bytes, base_url: str, name: str, charset: str | None) -> ProjectPage:
    parser = _Anchors()
    try:
        parser.feed(_decode(body, charset))
        parser.close()
    except (AssertionError, NotImplementedError) as exc:
        # What html.parser raises on some broken markup before Python 3.10: pip, which reads
        # pages with the same parser, can't read this one either.
        raise PageError(f"not an HTML page: {exc}") from None
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
                filename=filename or "".join(text).strip(),
                url=url,
                sha256=sha,
                requires_python=attrs.get("data-requires-python") or None,
                yanked=(attrs.get("data-yanked") or True) if yanked_attr else False,
                metadata_sha256=meta_sha,
                has_metadata=has_metadata,
            )
        )
    return ProjectPage(name, tuple(files))
