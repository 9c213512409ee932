"""What the test index says: its distributions read from disk, and the simple API's pages.

Content negotiation as PyPI does it (PEP 691: JSON or HTML by the Accept header), the root page,
and a project's page in JSON or HTML with PEP 658 metadata advertised as PyPI advertises it.
:class:`~testbed.index.IndexServer` serves what these render.
"""

from __future__ import annotations

import hashlib
import html
import json
import tarfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DistInfo", "negotiate", "project_html", "project_json", "read_dist", "root_page"]

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
TEXT_HTML = "text/html"

# (media type offered, content type answered), in the server's order of preference on a tie.
_OFFERS: tuple[tuple[str, str], ...] = (
    (TEXT_HTML, "text/html; charset=utf-8"),
    (HTML_V1, HTML_V1),
    (HTML_LATEST, HTML_V1),
    (JSON_V1, JSON_V1),
    (JSON_LATEST, JSON_V1),
)


@dataclass(frozen=True)
class DistInfo:
    """One distribution file as its index page lists it."""

    filename: str
    project: str
    kind: str
    size: int
    sha256: str
    requires_python: str | None
    metadata: bytes | None  # a wheel's METADATA (PEP 658); None for sdists

    @property
    def metadata_sha256(self) -> str | None:
        return None if self.metadata is None else hashlib.sha256(self.metadata).hexdigest()


def read_dist(path: Path, filename: str, project: str, kind: str) -> DistInfo:
    """What the page lists of the file at ``path``: its hash, Requires-Python, metadata."""
    data = path.read_bytes()
    metadata: bytes | None = None
    pkg_info: bytes | None = None
    try:
        if kind == "wheel":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    parts = member.split("/")
                    if (
                        len(parts) == 2
                        and parts[0].endswith(".dist-info")
                        and parts[1] == "METADATA"
                    ):
                        metadata = archive.read(member)
                        break
            pkg_info = metadata
        elif filename.endswith(".tar.gz"):
            with tarfile.open(path, "r:gz") as archive:
                for info in archive.getmembers():
                    if info.name.count("/") == 1 and info.name.endswith("/PKG-INFO"):
                        extracted = archive.extractfile(info)
                        pkg_info = extracted.read() if extracted else None
                        break
    except (OSError, zipfile.BadZipFile, tarfile.TarError):
        pass  # a broken file is still listed; pip will be the one to complain
    requires_python = None
    if pkg_info is not None:
        for line in pkg_info.decode("utf-8", "replace").splitlines():
            if not line.strip():
                break
            if line.lower().startswith("requires-python:"):
                requires_python = line.split(":", 1)[1].strip() or None
    return DistInfo(
        filename=filename,
        project=project,
        kind=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        requires_python=requires_python,
        metadata=metadata,
    )


def _parse_accept(header: str | None) -> list[tuple[str, float]]:
    if not header:
        return [("*/*", 1.0)]
    ranges: list[tuple[str, float]] = []
    for item in header.split(","):
        fields = [f.strip() for f in item.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        ranges.append((media, q))
    return ranges


def negotiate(accept: str | None) -> tuple[str, str]:
    """``(format, content type)`` for an Accept header: format is ``"json"`` or ``"html"``.

    Like PyPI: the best q-value wins, an exact media range beats ``type/*`` beats ``*/*`` when
    finding a type's q, and HTML is the default (no Accept header, ``*/*``, nothing matching).
    """
    ranges = _parse_accept(accept)
    best: tuple[float, int, int] | None = None
    chosen = (TEXT_HTML, _OFFERS[0][1])
    for order, (offered, content_type) in enumerate(_OFFERS):
        main_type = offered.split("/", 1)[0]
        match: tuple[int, float] | None = None  # (specificity, q)
        for media, q in ranges:
            if media == offered:
                specificity = 2
            elif media == f"{main_type}/*":
                specificity = 1
            elif media == "*/*":
                specificity = 0
            else:
                continue
            if match is None or specificity > match[0]:
                match = (specificity, q)
        if match is None or match[1] <= 0:
            continue
        key = (match[1], match[0], -order)
        if best is None or key > best:
            best = key
            chosen = (offered, content_type)
    return ("json" if chosen[0].endswith("+json") else "html"), chosen[1]


def root_page(names: list[str], fmt: str) -> bytes:
    """``/simple/``: every project, in ``fmt`` (``"json"`` or ``"html"``)."""
    if fmt == "json":
        document = {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]}
        return json.dumps(document, indent=1).encode()
    links = "\n".join(f'    <a href="/simple/{n}/">{html.escape(n)}</a><br />' for n in names)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        "    <title>Simple index</title>\n  </head>\n  <body>\n"
        f"{links}\n  </body>\n</html>\n"
    ).encode()


def project_json(
    project: str,
    files: list[DistInfo],
    file_url: Callable[[str], str],
    *,
    yanked: Mapping[str, str],
    metadata: bool,
) -> bytes:
    """A project's PEP 691 JSON page; ``yanked``: file name -> reason ("" for none)."""
    entries: list[dict[str, Any]] = []
    for info in files:
        entry: dict[str, Any] = {
            "filename": info.filename,
            "url": file_url(info.filename),
            "hashes": {"sha256": info.sha256},
        }
        if info.requires_python:
            entry["requires-python"] = info.requires_python
        reason = yanked.get(info.filename)
        entry["yanked"] = (reason or True) if reason is not None else False
        if metadata and info.metadata_sha256:
            # PEP 714's key, plus the legacy key exactly as PyPI spells it in JSON
            # ("data-dist-info-metadata"). NOT "dist-info-metadata": pip 22.3-23.0.x read
            # that key and crash on its dict value ("TypeError: unhashable type: 'dict'"),
            # the very bug PEP 714 renamed the key for; PyPI never serves it.
            entry["core-metadata"] = {"sha256": info.metadata_sha256}
            entry["data-dist-info-metadata"] = {"sha256": info.metadata_sha256}
        entries.append(entry)
    document = {"meta": {"api-version": "1.0"}, "name": project, "files": entries}
    return json.dumps(document, indent=1).encode()


def project_html(
    project: str,
    files: list[DistInfo],
    file_url: Callable[[str], str],
    *,
    yanked: Mapping[str, str],
    metadata: bool,
    unquoted: bool = False,
) -> bytes:
    """A project's PEP 503 HTML page; ``unquoted``: attribute values without quotes."""

    def attribute(name: str, value: str) -> str:
        # No space, quote or ">" may stay in an unquoted value, and an empty one needs quotes.
        if unquoted and value:
            escaped = html.escape(value).replace(" ", "&#32;").replace("`", "&#96;")
            return f"{name}={escaped}"
        return f'{name}="{html.escape(value)}"'

    links: list[str] = []
    for info in files:
        attributes = [attribute("href", f"{file_url(info.filename)}#sha256={info.sha256}")]
        if info.requires_python:
            attributes.append(attribute("data-requires-python", info.requires_python))
        reason = yanked.get(info.filename)
        if reason is not None:
            attributes.append(attribute("data-yanked", reason))
        if metadata and info.metadata_sha256:
            value = f"sha256={info.metadata_sha256}"
            attributes.append(attribute("data-dist-info-metadata", value))
            attributes.append(attribute("data-core-metadata", value))
        links.append(f"    <a {' '.join(attributes)}>{html.escape(info.filename)}</a><br />")
    body = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>Links for {html.escape(project)}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {html.escape(project)}</h1>\n"
        + "\n".join(links)
        + "\n  </body>\n</html>\n"
    )
    return body.encode()
