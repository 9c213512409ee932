"""A package index on loopback that behaves like PyPI where pip can tell the difference.

``IndexServer`` serves a directory of distributions (read at request time, so files added later
appear) as a PEP 503 / PEP 691 simple index with PEP 658 metadata files, optional PyPI-style
cache headers, optional TLS, injected delays and truncated downloads. ``stop()`` closes the
listening socket *and* every open connection, so the port refuses connections and a client's
kept-alive connection dies too; ``start()`` binds the same port again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import socket
import socketserver
import ssl
import struct
import sys
import tarfile
import tempfile
import threading
import weakref
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from testbed.dists import canonical_name, parse_filename

__all__ = ["CertificateAuthority", "IndexServer", "make_ca"]

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
TEXT_HTML = "text/html"

PAGE_CACHE_CONTROL = "max-age=600, public"
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"

# (media type offered, content type answered), in the server's order of preference on a tie.
_OFFERS: tuple[tuple[str, str], ...] = (
    (TEXT_HTML, "text/html; charset=utf-8"),
    (HTML_V1, HTML_V1),
    (HTML_LATEST, HTML_V1),
    (JSON_V1, JSON_V1),
    (JSON_LATEST, JSON_V1),
)


class _PemBlob(Protocol):
    def write_to_path(self, path: str | os.PathLike[str], append: bool = False) -> None: ...


class _LeafCert(Protocol):
    def configure_cert(self, ctx: ssl.SSLContext) -> None: ...


class CertificateAuthority(Protocol):
    """What ``IndexServer(https=...)`` needs: the subset of ``trustme.CA`` it uses."""

    @property
    def cert_pem(self) -> _PemBlob: ...

    def issue_cert(self, *identities: str) -> _LeafCert: ...


def make_ca() -> CertificateAuthority:
    """A fresh ``trustme.CA`` (raises ImportError when trustme is not installed)."""
    import trustme

    ca: CertificateAuthority = trustme.CA()
    return ca


@dataclass(frozen=True)
class _DistInfo:
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


def _read_dist(path: Path, filename: str, project: str, kind: str) -> _DistInfo:
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
    return _DistInfo(
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, owner: IndexServer, address: tuple[str, int]) -> None:
        self.owner = owner
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(): a name lookup we neither need nor
        # want in tests.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        if self.owner._ssl_context is not None:
            # The handshake happens in the handler's thread (see _Handler.setup), so one slow
            # client never blocks the accept loop.
            sock = self.owner._ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        self.owner._accepted(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        self.owner._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-response are normal here (timeouts, outages): no tracebacks.
        exc = sys.exc_info()[1]
        self.owner.errors.append(f"{client_address}: {exc!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60  # seconds a connection may sit idle before the handler gives up on it

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self, head=False)

    def do_HEAD(self) -> None:
        self.server.owner._handle(self, head=True)


class IndexServer:
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
        self.dist_dir = Path(dist_dir)
        self.cache_headers = cache_headers
        self.metadata = metadata
        self.delay = delay
        self.drop_files_after = drop_files_after
        self.host = host
        self.yanked: dict[str, str] = (
            dict(yanked) if isinstance(yanked, Mapping) else dict.fromkeys(yanked, "")
        )
        self.requests: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.fail_next: dict[str, list[int]] = {}
        self.reset_next: dict[str, int] = {}
        self.credentials: tuple[str, str] | None = None
        self.cdn_redirects = False
        self.unquoted_links = False
        self.set_cookie: str | None = None
        self.redirects: dict[str, str] = {}
        self.headers_seen: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cache: dict[str, tuple[tuple[int, int], _DistInfo]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._port = 0
        # While stopped, a bound but never listening socket keeps the port: connections are
        # refused, and no other test's server (another xdist worker) is handed this port and
        # answers for the "stopped" index.
        self._held: socket.socket | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self.ca_bundle: Path | None = None
        if https is not None:
            identities = ["localhost", "127.0.0.1", "::1"]
            if host not in identities:
                identities.append(host)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            https.issue_cert(*identities).configure_cert(context)
            self._ssl_context = context
            ca_dir = tempfile.mkdtemp(prefix="pipff-ca-")
            weakref.finalize(self, shutil.rmtree, ca_dir, True)
            self.ca_bundle = Path(ca_dir) / "ca.pem"
            https.cert_pem.write_to_path(str(self.ca_bundle))

    # -- life cycle ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def scheme(self) -> str:
        return "https" if self._ssl_context is not None else "http"

    @property
    def base_url(self) -> str:
        """``scheme://host:port`` (``localhost`` for https on 127.0.0.1, brackets for IPv6)."""
        host = self.host
        if self._ssl_context is not None and host in ("127.0.0.1", "localhost"):
            host = "localhost"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self._port}"

    @property
    def url(self) -> str:
        """The index URL for pip's ``--index-url`` (ends with ``/simple/``)."""
        return f"{self.base_url}/simple/"

    @property
    def running(self) -> bool:
        return self._server is not None

    def project_url(self, name: str) -> str:
        return f"{self.base_url}/simple/{canonical_name(name)}/"

    def file_url(self, filename: str) -> str:
        return f"{self.base_url}/files/{quote(filename)}"

    def start(self) -> IndexServer:
        """Listen (again): the first start picks a free port, later ones re-bind the same port."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self.release_port()
        server = _Server(self, (self.host, self._port))
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"pipff-index-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and every open connection: the port now refuses.

        The port stays this server's (see :meth:`release_port`) until it starts again.
        """
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        self._hold_port()
        with self._lock:
            open_sockets = list(self._open)
            self._open.clear()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _hold_port(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        held = socket.socket(family, socket.SOCK_STREAM)
        # SO_REUSEADDR as the server had it: the port's TIME_WAIT connections don't block this
        # bind, and the kernel still never picks a port bound this way for another bind(0).
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            held.bind((self.host, self._port))
        except OSError:
            held.close()
            return
        self._held = held

    def release_port(self) -> None:
        """Give up the port kept since :meth:`stop` (done by :meth:`start` and on exit)."""
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.release_port()

    # -- bookkeeping (called from server threads) ----------------------------------------------

    def _accepted(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._open.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def requested(self, prefix: str = "") -> list[str]:
        """Paths requested so far (any method) that start with ``prefix``."""
        with self._lock:
            return [path for _method, path in self.requests if path.startswith(prefix)]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.connections = 0

    # -- the distributions ---------------------------------------------------------------------

    def _dists(self) -> dict[str, list[_DistInfo]]:
        """Project name -> its files, read from ``dist_dir`` now."""
        projects: dict[str, list[_DistInfo]] = {}
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
            with self._lock:
                cached = self._cache.get(entry.name)
            if cached is None or cached[0] != key:
                info = _read_dist(Path(entry.path), entry.name, parsed[0], parsed[2])
                cached = (key, info)
                with self._lock:
                    self._cache[entry.name] = cached
            projects.setdefault(parsed[0], []).append(cached[1])
        return projects

    # -- responses -----------------------------------------------------------------------------

    def _handle(self, handler: _Handler, *, head: bool) -> None:
        with self._lock:
            self.requests.append((handler.command, handler.path))
            self.headers_seen.append((handler.path, dict(handler.headers.items())))
        if self.delay > 0 and self._stopping.wait(self.delay):
            handler.close_connection = True
            return
        path = unquote(urlsplit(handler.path).path)
        with self._lock:
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

    def _route(self, handler: _Handler, path: str, *, head: bool) -> None:
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
        handler: _Handler,
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

    def _authorized(self, handler: _Handler) -> bool:
        assert self.credentials is not None
        user, password = self.credentials
        expected = base64.b64encode(f"{user}:{password}".encode()).decode()
        return handler.headers.get("Authorization") == f"Basic {expected}"

    def _redirect(
        self,
        handler: _Handler,
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

    def _etag_matches(self, handler: _Handler, etag: str) -> bool:
        header = handler.headers.get("If-None-Match")
        if not header:
            return False
        candidates = [c.strip() for c in header.split(",")]
        return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)

    def _cacheable(
        self,
        handler: _Handler,
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

    def _root_page(self, handler: _Handler, *, head: bool) -> None:
        names = sorted(self._dists())
        fmt, content_type = negotiate(handler.headers.get("Accept"))
        if fmt == "json":
            document = {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]}
            body = json.dumps(document, indent=1).encode()
        else:
            links = "\n".join(
                f'    <a href="/simple/{n}/">{html.escape(n)}</a><br />' for n in names
            )
            body = (
                "<!DOCTYPE html>\n<html>\n  <head>\n"
                '    <meta name="pypi:repository-version" content="1.0">\n'
                "    <title>Simple index</title>\n  </head>\n  <body>\n"
                f"{links}\n  </body>\n</html>\n"
            ).encode()
        self._cacheable(
            handler, body, content_type, head=head, cache_control=PAGE_CACHE_CONTROL, vary=True
        )

    def _project_page(self, handler: _Handler, project: str, *, head: bool) -> None:
        files = self._dists().get(project)
        if not files:
            self._send(handler, HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain", head=head)
            return
        fmt, content_type = negotiate(handler.headers.get("Accept"))
        if self.unquoted_links:
            fmt, content_type = "html", TEXT_HTML
        if fmt == "json":
            body = self._project_json(project, files)
        else:
            body = self._project_html(project, files)
        self._cacheable(
            handler, body, content_type, head=head, cache_control=PAGE_CACHE_CONTROL, vary=True
        )

    def _project_json(self, project: str, files: list[_DistInfo]) -> bytes:
        entries: list[dict[str, Any]] = []
        for info in files:
            entry: dict[str, Any] = {
                "filename": info.filename,
                "url": self.file_url(info.filename),
                "hashes": {"sha256": info.sha256},
            }
            if info.requires_python:
                entry["requires-python"] = info.requires_python
            reason = self.yanked.get(info.filename)
            entry["yanked"] = (reason or True) if reason is not None else False
            if self.metadata and info.metadata_sha256:
                # PEP 714's key, plus the legacy key exactly as PyPI spells it in JSON
                # ("data-dist-info-metadata"). NOT "dist-info-metadata": pip 22.3-23.0.x read
                # that key and crash on its dict value ("TypeError: unhashable type: 'dict'"),
                # the very bug PEP 714 renamed the key for; PyPI never serves it.
                entry["core-metadata"] = {"sha256": info.metadata_sha256}
                entry["data-dist-info-metadata"] = {"sha256": info.metadata_sha256}
            entries.append(entry)
        document = {"meta": {"api-version": "1.0"}, "name": project, "files": entries}
        return json.dumps(document, indent=1).encode()

    def _project_html(self, project: str, files: list[_DistInfo]) -> bytes:
        def attribute(name: str, value: str) -> str:
            # No space, quote or ">" may stay in an unquoted value, and an empty one needs quotes.
            if self.unquoted_links and value:
                escaped = html.escape(value).replace(" ", "&#32;").replace("`", "&#96;")
                return f"{name}={escaped}"
            return f'{name}="{html.escape(value)}"'

        links: list[str] = []
        for info in files:
            attributes = [attribute("href", f"{self.file_url(info.filename)}#sha256={info.sha256}")]
            if info.requires_python:
                attributes.append(attribute("data-requires-python", info.requires_python))
            reason = self.yanked.get(info.filename)
            if reason is not None:
                attributes.append(attribute("data-yanked", reason))
            if self.metadata and info.metadata_sha256:
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

    def _file(self, handler: _Handler, filename: str, *, head: bool) -> None:
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
