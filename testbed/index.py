"""A package index on loopback that behaves like PyPI where pip can tell the difference.

``IndexServer`` serves a directory of distributions (read at request time, so files added later
appear) as a PEP 503 / PEP 691 simple index with PEP 658 metadata files (:mod:`testbed.simple`
renders the pages), optional PyPI-style cache headers, optional TLS, and the faults a real
index shows: delays, truncated downloads, failing statuses, resets, redirects, a login.
Stopping and starting it is :class:`~testbed.loopback.LoopbackServer`'s.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import socket
import ssl
import struct
import threading
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from testbed.dists import canonical_name, parse_filename
from testbed.loopback import CertificateAuthority, LoopbackServer, RequestHandler
from testbed.simple import (
    TEXT_HTML,
    DistInfo,
    negotiate,
    project_html,
    project_json,
    read_dist,
    root_page,
)

__all__ = ["IndexServer"]

PAGE_CACHE_CONTROL = "max-age=600, public"
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"


class IndexServer(LoopbackServer):
    """A PEP 503/691/658 index over ``dist_dir`` on a loopback port chosen by the OS.

    - ``/simple/`` and ``/simple/<canonical-name>/`` (JSON or HTML by Accept, as PyPI); PEP 658
      metadata is advertised as PyPI does: ``data-core-metadata`` and ``data-dist-info-metadata``
      in HTML, ``core-metadata`` and ``data-dist-info-metadata`` in JSON;
      non-canonical names get a 301 to the canonical URL; unknown projects a 404.
    - ``/files/<filename>``, and ``/files/<filename>.metadata`` for wheels when ``metadata``.
    - ``cache_headers="pypi"``: PyPI's Cache-Control, ETag and Vary (and 304 for If-None-Match);
      ``"none"``: no caching headers at all.
    - ``https``: a ``trustme.CA`` (or anything with ``issue_cert`` and ``cert_pem``); the server
      then speaks TLS with a certificate for localhost, 127.0.0.1 and ::1, ``url`` uses
      ``localhost`` and ``ca_bundle`` is the CA's PEM for pip's ``--cert``.
    - ``yanked``: file names to mark yanked (a mapping gives each a reason).
    - ``delay``: seconds to wait before every response.
    - ``drop_files_after=N``: distribution downloads send the full Content-Length, then only N
      bytes, then close the connection (``.metadata`` files are not cut).
    - ``fail_next``: path -> list of HTTP statuses; each request for that path answers the next
      status of its list (a flaky server), then the path is served normally.
    - ``reset_next``: path -> count; that many requests for the path are answered with a TCP
      reset and no response (a flaky server or network), then the path is served normally.
    - ``credentials``: (user, password); every request without them gets 401.
    - ``unquoted_links``: project pages are always HTML, their attribute values unquoted
      (``<a href=http://.../files/x.whl#sha256=...>``): valid HTML, and pip reads it.
    - ``cdn_redirects``: ``/files/<name>`` answers 302 to ``/cdn/<name>?signature=<random>``
      (a CDN or a pre-signed URL, as Artifactory, GitLab or S3-backed indexes do).
    - ``set_cookie``: a ``Set-Cookie`` value sent with every response.
    - ``redirects``: request path (with its query) -> location, answered with a 302.
    - ``headers_seen``: (path, request headers) of every request.
    """

    def __init__(
        self,
        dist_dir: Path,
        *,
        cache_headers: str = "none",
        https: CertificateAuthority | None = None,
        yanked: Iterable[str] | Mapping[str, str] = (),
        metadata: bool = True,
        delay: float = 0.0,
        drop_files_after: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if cache_headers not in ("none", "pypi"):
            raise ValueError(f"cache_headers must be 'none' or 'pypi', not {cache_headers!r}")
        super().__init__(host=host, https=https)
        self.dist_dir = Path(dist_dir)
        self.cache_headers = cache_headers
        self.metadata = metadata
        self.delay = delay
        self.drop_files_after = drop_files_after
        self.yanked: dict[str, str] = (
            dict(yanked) if isinstance(yanked, Mapping) else dict.fromkeys(yanked, "")
        )
        self.fail_next: dict[str, list[int]] = {}
        self.reset_next: dict[str, int] = {}
        self.credentials: tuple[str, str] | None = None
        self.cdn_redirects = False
        self.unquoted_links = False
        self.set_cookie: str | None = None
        self.redirects: dict[str, str] = {}
        self._state = threading.Lock()  # the faults' counters and the file cache
        self._cache: dict[str, tuple[tuple[int, int], DistInfo]] = {}

    @property
    def url(self) -> str:
        """The index URL for pip's ``--index-url`` (ends with ``/simple/``)."""
        return f"{self.base_url}/simple/"

    def project_url(self, name: str) -> str:
        return f"{self.base_url}/simple/{canonical_name(name)}/"

    def file_url(self, filename: str) -> str:
        return f"{self.base_url}/files/{quote(filename)}"

    # -- the distributions ---------------------------------------------------------------------

    def _dists(self) -> dict[str, list[DistInfo]]:
        """Project name -> its files, read from ``dist_dir`` now."""
        projects: dict[str, list[DistInfo]] = {}
        try:
            entries = sorted(os.scandir(self.dist_dir), key=lambda e: e.name)
        except FileNotFoundError:
            return projects
        for entry in entries:
            if entry.name.startswith("."):
                continue
            parsed = parse_filename(entry.name)
            if parsed is None:
                continue
            try:
                stat = entry.stat()
            except OSError:
                continue
            key = (stat.st_mtime_ns, stat.st_size)
            with self._state:
                cached = self._cache.get(entry.name)
            if cached is None or cached[0] != key:
                info = read_dist(Path(entry.path), entry.name, parsed[0], parsed[2])
                cached = (key, info)
                with self._state:
                    self._cache[entry.name] = cached
            projects.setdefault(parsed[0], []).append(cached[1])
        return projects

    # -- responses, and the faults -------------------------------------------------------------

    def handle(self, handler: RequestHandler, *, head: bool) -> None:
        self.note(handler)
        if self.delay > 0 and self.stopped_within(self.delay):
            handler.close_connection = True
            return
        path = unquote(urlsplit(handler.path).path)
        with self._state:
            failures = self.fail_next.get(path)
            status = failures.pop(0) if failures else None
            reset = self.reset_next.get(path, 0) > 0
            if reset:
                self.reset_next[path] -= 1
        if reset:
            handler.close_connection = True
            # SO_LINGER 0: close() sends a RST instead of a FIN (a reset, not a clean close).
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            return
        location = self.redirects.get(handler.path)
        if location is not None:
            self._redirect(handler, location, head=head, status=HTTPStatus.FOUND)
            return
        if self.credentials is not None and not self._authorized(handler):
            self._send(
                handler,
                HTTPStatus.UNAUTHORIZED,
                b"Unauthorized\n",
                "text/plain",
                head=head,
                headers={"WWW-Authenticate": 'Basic realm="pipff"'},
            )
            return
        try:
            if status is not None:
                self._send(handler, HTTPStatus(status), b"Try again\n", "text/plain", head=head)
                return
            self._route(handler, path, head=head)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            handler.close_connection = True

    def _route(self, handler: RequestHandler, path: str, *, head: bool) -> None:
        if path == "/simple":
            self._redirect(handler, "/simple/", head=head)
            return
        if path == "/simple/":
            self._root_page(handler, head=head)
            return
        match = re.fullmatch(r"/simple/([^/]+)(/?)", path)
        if match:
            name, slash = match.group(1), match.group(2)
            canonical = canonical_name(name)
            if canonical != name or not slash:
                self._redirect(handler, f"/simple/{canonical}/", head=head)
                return
            self._project_page(handler, canonical, head=head)
            return
        match = re.fullmatch(r"/files/([^/]+)", path)
        if match and self.cdn_redirects and not match.group(1).endswith(".metadata"):
            location = f"/cdn/{match.group(1)}?signature={secrets.token_hex(8)}"
            self._redirect(handler, location, head=head, status=HTTPStatus.FOUND)
            return
        match = match or re.fullmatch(r"/cdn/([^/]+)", path)
        if match:
            self._file(handler, match.group(1), head=head)
            return
        self._send(handler, HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain", head=head)

    def _send(
        self,
        handler: RequestHandler,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        headers: Mapping[str, str] | None = None,
        truncate_to: int | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        if self.set_cookie:
            handler.send_header("Set-Cookie", self.set_cookie)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if head:
            return
        if truncate_to is not None and truncate_to < len(body):
            handler.wfile.write(body[:truncate_to])
            handler.wfile.flush()
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.wfile.write(body)

    def _authorized(self, handler: RequestHandler) -> bool:
        assert self.credentials is not None
        user, password = self.credentials
        expected = base64.b64encode(f"{user}:{password}".encode()).decode()
        return handler.headers.get("Authorization") == f"Basic {expected}"

    def _redirect(
        self,
        handler: RequestHandler,
        location: str,
        *,
        head: bool,
        status: HTTPStatus = HTTPStatus.MOVED_PERMANENTLY,
    ) -> None:
        body = f"Moved to {location}\n".encode()
        self._send(
            handler,
            status,
            body,
            "text/plain",
            head=head,
            headers={"Location": location},
        )

    def _etag_matches(self, handler: RequestHandler, etag: str) -> bool:
        header = handler.headers.get("If-None-Match")
        if not header:
            return False
        candidates = [c.strip() for c in header.split(",")]
        return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)

    def _cacheable(
        self,
        handler: RequestHandler,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        cache_control: str,
        vary: bool,
        etag_source: str | None = None,
        truncate_to: int | None = None,
    ) -> None:
        headers: dict[str, str] = {}
        if self.cache_headers == "pypi":
            etag = '"' + (etag_source or hashlib.sha256(body).hexdigest())[:32] + '"'
            headers = {"Cache-Control": cache_control, "ETag": etag}
            if vary:
                headers["Vary"] = "Accept, Accept-Encoding"
            if self._etag_matches(handler, etag):
                handler.send_response(HTTPStatus.NOT_MODIFIED)
                for key, value in headers.items():
                    handler.send_header(key, value)
                handler.end_headers()
                return
        self._send(
            handler,
            HTTPStatus.OK,
            body,
            content_type,
            head=head,
            headers=headers,
            truncate_to=truncate_to,
        )

    def _root_page(self, handler: RequestHandler, *, head: bool) -> None:
        fmt, content_type = negotiate(handler.headers.get("Accept"))
        body = root_page(sorted(self._dists()), fmt)
        self._cacheable(
            handler, body, content_type, head=head, cache_control=PAGE_CACHE_CONTROL, vary=True
        )

    def _project_page(self, handler: RequestHandler, project: str, *, head: bool) -> None:
        files = self._dists().get(project)
        if not files:
            self._send(handler, HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain", head=head)
            return
        fmt, content_type = negotiate(handler.headers.get("Accept"))
        if self.unquoted_links:
            fmt, content_type = "html", TEXT_HTML
        if fmt == "json":
            body = project_json(
                project, files, self.file_url, yanked=self.yanked, metadata=self.metadata
            )
        else:
            body = project_html(
                project,
                files,
                self.file_url,
                yanked=self.yanked,
                metadata=self.metadata,
                unquoted=self.unquoted_links,
            )
        self._cacheable(
            handler, body, content_type, head=head, cache_control=PAGE_CACHE_CONTROL, vary=True
        )

    def _file(self, handler: RequestHandler, filename: str, *, head: bool) -> None:
        want_metadata = filename.endswith(".metadata")
        dist_name = filename[: -len(".metadata")] if want_metadata else filename
        info = next(
            (i for files in self._dists().values() for i in files if i.filename == dist_name),
            None,
        )
        if info is None or (want_metadata and (not self.metadata or info.metadata is None)):
            self._send(handler, HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain", head=head)
            return
        if want_metadata:
            assert info.metadata is not None
            self._cacheable(
                handler,
                info.metadata,
                "application/octet-stream",
                head=head,
                cache_control=FILE_CACHE_CONTROL,
                vary=False,
                etag_source=info.metadata_sha256,
            )
            return
        try:
            body = (self.dist_dir / dist_name).read_bytes()
        except OSError:
            self._send(handler, HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain", head=head)
            return
        content_type = "application/zip" if info.kind == "wheel" else "application/x-tar"
        self._cacheable(
            handler,
            body,
            content_type,
            head=head,
            cache_control=FILE_CACHE_CONTROL,
            vary=False,
            etag_source=info.sha256,
            truncate_to=self.drop_files_after,
        )
