"""Proxies on loopback that work: one that forwards every request to one index, one slow tunnel.

(A proxy that fails is an outage: :class:`testbed.outages.FailingProxy`.)
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testbed.index import IndexServer

__all__ = ["ForwardingProxy", "TunnelProxy"]


class ForwardingProxy:
    """A plain-HTTP proxy that sends every request, whatever its host, to one index server.

    With it an index can be reached online under a name that does not resolve; without it the
    same URLs fail with a real DNS error.
    """

    def __init__(self, index: IndexServer) -> None:
        target = index

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # as testbed.loopback's handler: no 40 ms stalls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection",)
                }
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                conn.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ForwardingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TunnelProxy:
    """An https proxy on loopback that answers CONNECT only after ``delay`` seconds, then relays
    bytes both ways: a slow route that works (a proxy far away, a slow VPN)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.connects: list[str] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._sockets.append(client)
            _no_delay(client)
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(4096)
                if not chunk:
                    return
                data += chunk
            target = data.split(b" ", 2)[1].decode()
            self.connects.append(target)
            if self._stop.wait(self.delay):
                return
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)), timeout=10)
            self._sockets.append(upstream)
            _no_delay(upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            threading.Thread(target=relay, args=(upstream, client), daemon=True).start()
            relay(client, upstream)

    def __enter__(self) -> TunnelProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()


def _no_delay(sock: socket.socket) -> None:
    """TCP_NODELAY on a relayed socket: a relay passes on what it gets as it gets it, and with
    Nagle's algorithm a second small piece (a body after its headers) would wait for the
    client's delayed ACK, about 40 ms, on every answer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def relay(source: socket.socket, sink: socket.socket) -> None:
    """Copy ``source`` to ``sink`` until ``source`` ends, then end ``sink``'s writing side."""
    with contextlib.suppress(OSError):
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
