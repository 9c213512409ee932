"""A threaded HTTP(S) server on loopback that can be stopped as an outage stops a server.

:class:`LoopbackServer` is the life cycle and the sockets: ``stop()`` closes the listening
socket *and* every open connection, so the port refuses connections and a client's kept-alive
connection dies too, and keeps the port bound (never listening) until ``start()`` binds it again.
What it answers, and which requests it logs, is its subclass's :meth:`LoopbackServer.handle`
(:class:`~testbed.index.IndexServer`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = ["CertificateAuthority", "LoopbackServer", "RequestHandler", "make_ca"]

_S = TypeVar("_S", bound="LoopbackServer")


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, owner: LoopbackServer, address: tuple[str, int]) -> None:
        self.owner = owner
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, RequestHandler)

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
            # The handshake happens in the handler's thread (see RequestHandler.setup), so one
            # slow client never blocks the accept loop.
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


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60  # seconds a connection may sit idle before the handler gives up on it
    # TCP_NODELAY, as urllib3 sets on its side and waitress on its own: without
    # it a kept-alive connection holds the body written after the headers until the client's
    # delayed ACK, about 40 ms per answer here, which every install and benchmark then waited.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner.handle(self, head=False)

    def do_HEAD(self) -> None:
        self.server.owner.handle(self, head=True)


class LoopbackServer:
    """A server on ``host`` at a port the OS picks; ``https``: TLS with a certificate from that
    CA for localhost, 127.0.0.1, ::1 and ``host`` (``ca_bundle`` is the CA's PEM).

    ``requests``: (method, path) of every request; ``headers_seen``: (path, request headers);
    ``connections``: connections accepted; ``errors``: what went wrong in a handler.
    """

    def __init__(self, *, host: str, https: CertificateAuthority | None) -> None:
        self.host = host
        self.requests: list[tuple[str, str]] = []
        self.headers_seen: list[tuple[str, dict[str, str]]] = []
        self.errors: list[str] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
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

    def handle(self, handler: RequestHandler, *, head: bool) -> None:
        """Answer one request (a GET, or a HEAD when ``head``); the subclass's business."""
        raise NotImplementedError

    def stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds``; True (at once) if the server is stopped meanwhile."""
        return self._stopping.wait(seconds)

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
    def running(self) -> bool:
        return self._server is not None

    def start(self: _S) -> _S:
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

    def __enter__(self: _S) -> _S:
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

    def note(self, handler: RequestHandler) -> None:
        """Log one request (``handle`` does, for the requests it counts as such)."""
        with self._lock:
            self.requests.append((handler.command, handler.path))
            self.headers_seen.append((handler.path, dict(handler.headers.items())))

    def requested(self, prefix: str = "") -> list[str]:
        """Paths requested so far (any method) that start with ``prefix``."""
        with self._lock:
            return [path for _method, path in self.requests if path.startswith(prefix)]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.connections = 0
