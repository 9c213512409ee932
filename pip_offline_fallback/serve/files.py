"""Serve's file answers: a distribution file or its PEP 658 metadata, with HEAD and Range.

A file's upstream URL comes from its project's page, never from the request path. A copy in
pip-ff's record is served from there (verified against its recorded sha256, and against the
page's), with Range; anything else is fetched through the engine (and recorded as it streams
to the client). A local answer that is not the record's (pip's HTTP cache, a wheelhouse) is
checked against the page's sha256 before a byte is sent: a damaged copy gets a 502 and a log
line, never its bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import IO, TYPE_CHECKING

from pip_offline_fallback.hashing import copy_with_hashing
from pip_offline_fallback.serve.provenance import Provenance, provenance_header
from pip_offline_fallback.serve.upstream import Upstream, UpstreamError
from pip_offline_fallback.urls import parse_dist_filename

if TYPE_CHECKING:
    from pip._vendor.requests import Response

logger = logging.getLogger(__name__)

CHUNK = 256 * 1024
FILE_CACHE_CONTROL = "max-age=365000000, immutable"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: Iterator[bytes]
    source: str | None = None  # a local answer's source, for the access log
    closers: list[IO[bytes] | Response] = field(default_factory=list)

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"

    def close(self) -> None:
        for closer in self.closers:
            with contextlib.suppress(Exception):
                closer.close()


def text(status: int, message: str) -> Reply:
    body = message.encode("utf-8")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    return Reply(status, headers, iter((body,)))


def file_reply(
    upstream: Upstream, project: str, filename: str, range_header: str | None, *, head: bool
) -> Reply:

    metadata = filename.endswith(".metadata")
    dist = filename[: -len(".metadata")] if metadata else filename
    parsed = parse_dist_filename(dist)
    if parsed is None or parsed[0] != project:
        return text(404, "pip-ff serve: no such file\n")
    try:
        link = upstream.known_page(project).file(dist)
        if link is None:  # a page seen earlier may not list it yet
            link = upstream.page(project).page.file(dist)
    except UpstreamError as exc:
        return text(exc.status if exc.status != 404 else 404, f"pip-ff serve: {exc}\n")
    if link is None:
        why = upstream.refused(project, dist)
        if why is not None:
            return text(403, f"pip-ff serve: not served: its page names {why}\n")
    if link is None or (metadata and not link.has_metadata):
        return text(404, "pip-ff serve: no such file on the index's page\n")
    url = link.url + (".metadata" if metadata else "")
    expected = link.metadata_sha256 if metadata else link.sha256

    found = upstream.engine.local_body(url, upstream.authorization(url), expected)
    if found is not None:
        local, intact = found
        if not intact:
            local.file.close()
            logger.warning(
                "pip-ff serve: the local copy of %s (%s) does not match the index's sha256; "
                "not serving it",
                filename,
                local.source.value,
            )
            return text(502, "pip-ff serve: the local copy is damaged\n")
        reply = _ranged(local.file, local.size, range_header)
        reply.headers.append(
            ("X-PipFF-Source", provenance_header(Provenance(local.source, local.fetched)))
        )
        reply.source = local.source.value
        return reply
    try:
        response, provenance = upstream.fetch(url)
    except UpstreamError as exc:
        if not exc.logged:
            logger.warning("pip-ff serve: %s: %s", filename, exc)
        return text(exc.status, f"pip-ff serve: {exc}\n")
    if provenance.local:
        return _verified(response, provenance, expected, filename)
    return _streamed(response, expected, filename, head=head)


def _file_headers(size: int | None) -> list[tuple[str, str]]:
    headers = [
        ("Content-Type", "application/octet-stream"),
        ("Accept-Ranges", "bytes"),
        ("Cache-Control", FILE_CACHE_CONTROL),
    ]
    if size is not None:
        headers.append(("Content-Length", str(size)))
    return headers


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """(first, last) of a single byte range; None: no (usable) range, serve it all;
    False: not satisfiable (416)."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None  # several ranges, or another unit: the whole file is a valid answer
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        length = int(last_text)
        if length == 0:
            return False
        return max(0, size - length), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        return False
    return first, last


def _ranged(f: IO[bytes], size: int, range_header: str | None) -> Reply:
    wanted = parse_range(range_header, size)
    if wanted is False:
        f.close()
        reply = text(416, "pip-ff serve: range not satisfiable\n")
        reply.headers.append(("Content-Range", f"bytes */{size}"))
        return reply
    if wanted is None or wanted is True:
        return Reply(200, _file_headers(size), _read(f, 0, size), closers=[f])
    first, last = wanted
    headers = _file_headers(last - first + 1)
    headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    return Reply(206, headers, _read(f, first, last - first + 1), closers=[f])


def _read(f: IO[bytes], offset: int, length: int) -> Iterator[bytes]:
    try:
        f.seek(offset)
        while length > 0:
            chunk = f.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        f.close()


class Contradicted(Exception):
    """A streamed body that does not match its page's sha256: raised before its last chunk
    goes out, so the server drops the connection and the client never has the whole file."""


def _streamed(response: Response, expected: str | None, filename: str, *, head: bool) -> Reply:
    """A file from the index, passed on as it arrives (and recorded as it is read), one chunk
    behind: the last one goes out only once the whole body matches the page's sha256."""
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    length = response.headers.get("content-length")
    size = int(length) if length and length.isdigit() and not encoded else None
    if head:
        # HEAD gets the length; the body is still read, so that the record holds the file.
        for _ in response.iter_content(CHUNK):
            pass
        response.close()
        return Reply(200, _file_headers(size), iter(()))

    def body() -> Iterator[bytes]:
        digest = hashlib.sha256()
        held = b""
        try:
            for chunk in response.iter_content(CHUNK):
                digest.update(chunk)
                if held:
                    yield held
                held = chunk
            if expected is not None and digest.hexdigest() != expected:
                logger.warning(
                    "pip-ff serve: %s from the index does not match the index's sha256; "
                    "its last bytes are not sent",
                    filename,
                )
                raise Contradicted(filename)
            if held:
                yield held
        finally:
            response.close()

    return Reply(200, _file_headers(size), body(), closers=[response])


def _verified(
    response: Response, provenance: Provenance, expected: str | None, filename: str
) -> Reply:
    """A local answer from a source that keeps no hash (pip's HTTP cache): read and checked
    against the page's sha256 before anything is sent."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        sha256, size = copy_with_hashing(response.iter_content(CHUNK), spool)
    finally:
        response.close()
    if expected is not None and sha256 != expected:
        spool.close()
        logger.warning(
            "pip-ff serve: the local copy of %s (%s) does not match the index's sha256; "
            "not serving it",
            filename,
            provenance.source.value,
        )
        return text(502, "pip-ff serve: the local copy is damaged\n")
    spool.seek(0)
    reply = Reply(200, _file_headers(size), _read(spool, 0, size), closers=[spool])
    reply.headers.append(("X-PipFF-Source", provenance_header(provenance)))
    reply.source = provenance.source.value
    return reply
