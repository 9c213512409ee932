"""Outages that really take the index away: every one is on loopback, bounded and self-stopping.

- :func:`closed_port_url`: nothing listens (connection refused at once).
- :class:`StallServer`: the connection is accepted, no byte ever comes back (read timeout).
- :class:`BlackHoleServer`: the TCP handshake never completes (connect timeout).
- :class:`FailingProxy`: an HTTP proxy that answers 502/503/504, or hangs up.
- :class:`SlowAcceptServer`: not an outage: a route whose every connect takes ~3 s, then works
  (a satellite link), in front of an index.
- :data:`UNRESOLVABLE_INDEX_URL`: a host name that never resolves (the ``.invalid`` TLD); give
  pip ``--trusted-host`` :data:`UNRESOLVABLE_HOST` too, or it skips the index without a lookup.
- :func:`hold_port`: the index's own port taken again, to stall or black-hole its clients.
- :func:`outage`: one of :data:`OUTAGES` on an :class:`~testbed.index.IndexServer`'s own URL.

A command in a namespace with no network at all: :mod:`testbed.netns`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus

from testbed.index import IndexServer
from testbed.proxies import relay

__all__ = [
    "OUTAGES",
    "UNRESOLVABLE_HOST",
    "UNRESOLVABLE_INDEX_URL",
    "BlackHoleServer",
    "FailingProxy",
    "SlowAcceptServer",
    "StallServer",
    "closed_port_url",
    "hold_port",
    "outage",
    "wait_for_port_closed",
]

# The .invalid TLD never resolves (RFC 2606). NB: pip ignores a plain-http index on any host but
# localhost/127.0.0.1/::1 ("not a trusted or secure host and is being ignored") WITHOUT trying to
# connect, so pass ``--trusted-host UNRESOLVABLE_HOST`` to make pip really attempt the lookup.
# The lookup goes to the machine's resolver (nothing else leaves the machine).
UNRESOLVABLE_HOST = "pipff-unreachable.invalid"
UNRESOLVABLE_INDEX_URL = f"http://{UNRESOLVABLE_HOST}/simple/"

# Longest any of these servers lives before stopping by itself, in seconds.
DEFAULT_LIFETIME = 300.0

# Sockets bound (never listening) to keep closed_port_url()'s ports: a bound, non-listening TCP
# socket answers every SYN with a RST, so the port refuses connections and no other socket of
# this machine can take it while the test session runs.
_RESERVED: list[socket.socket] = []


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def closed_port_url(host: str = "127.0.0.1") -> str:
    """An index URL on a loopback port where connections are refused (nothing listens)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    _RESERVED.append(sock)
    return f"http://{_url_host(host)}:{port}/simple/"


class _LoopbackServer:
    """A listening socket on loopback, an accept thread, a lifetime, a context manager."""

    backlog = 64
    scheme = "http"

    def __init__(self, *, host: str = "127.0.0.1", lifetime: float = DEFAULT_LIFETIME) -> None:
        self.host = host
        self.lifetime = lifetime
        self.connections = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._clients: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self._listener.listen(self.backlog)
        self.port: int = self._listener.getsockname()[1]
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        self._start_threads()

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{_url_host(self.host)}:{self.port}"

    @property
    def url(self) -> str:
        """An index URL (ends with ``/simple/``) pointing at this server."""
        return f"{self.base_url}/simple/"

    def _start_threads(self) -> None:
        self._spawn(self._accept_loop, "accept")

    def _spawn(self, target: Callable[..., None], what: str, *args: object) -> None:
        thread = threading.Thread(
            target=target,
            args=args,
            name=f"pipff-{type(self).__name__}-{self.port}-{what}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                client, _address = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.setblocking(True)
            with self._lock:
                self.connections += 1
                self._clients.append(client)
            self._on_client(client)

    def _on_client(self, client: socket.socket) -> None:
        """Called in the accept thread for every connection: by default, hold it, say nothing."""

    def stop(self) -> None:
        """Close everything (idempotent; also runs by itself after ``lifetime`` seconds)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                client.close()
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout=2)

    def __enter__(self) -> _LoopbackServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class StallServer(_LoopbackServer):
    """Accepts TCP connections and never answers: clients hit their read timeout.

    ``connections`` counts the accepted connections.
    """

    def __enter__(self) -> StallServer:
        return self


class BlackHoleServer(_LoopbackServer):
    """Connection attempts time out at connect time: the SYN is never answered.

    The trick: listen with a backlog of 0, never accept, and fill the accept queue with our own
    connections; the kernel then drops further SYNs (the accept queue is full) and the client
    keeps retransmitting until its connect timeout. The constructor checks that a probe
    connection really times out, adding fillers until it does.

    Measured on the development machine (gVisor, Python 3.11): one filler connection fills the
    queue; ``socket.create_connection(("127.0.0.1", port), timeout=2)`` then raises TimeoutError
    after 2.00 s, and pip with ``--timeout 1 --retries 0`` gives up on the index after ~1 s.
    On a stock Linux kernel the behaviour is the same (``sk_acceptq_is_full`` drops the SYN).
    """

    backlog = 0
    probe_timeout = 0.25
    max_fillers = 16

    def _start_threads(self) -> None:
        # No accept loop: the queue must stay full.
        for _ in range(self.max_fillers):
            probe = socket.socket(self._listener.family, socket.SOCK_STREAM)
            probe.settimeout(self.probe_timeout)
            try:
                probe.connect((self.host, self.port))
            except (socket.timeout, TimeoutError):
                probe.close()
                return  # the queue is full: SYNs go unanswered
            except OSError:
                probe.close()
                raise
            self._clients.append(probe)  # a filler: keep it open
        self.stop()
        raise RuntimeError("BlackHoleServer: connections keep succeeding; no black hole here")

    def __enter__(self) -> BlackHoleServer:
        return self


# getsockopt(SOL_SOCKET, SO_MEMINFO): the socket's counters; the last one counts dropped packets,
# which for a listening socket includes every SYN dropped because its accept queue was full.
_SO_MEMINFO = 55
_MEMINFO_FIELDS = 9


class SlowAcceptServer(_LoopbackServer):
    """A route that works, slowly: each TCP connect completes only ``delay`` seconds (about)
    after the client's first SYN, then the connection is relayed to ``127.0.0.1:target_port``.

    The gate is a full accept queue (as :class:`BlackHoleServer`): SYNs are dropped and the
    client retransmits them (after 1, 2, 3 s on Linux 6.7+; 1, 3 s before). The listener's
    drop counter (SO_MEMINFO, Linux only) says when a client started waiting; ``delay - 0.5``
    seconds later the gate opens for one connection, so its next SYN gets through: with the
    default delay of 3 s, the connect takes 3 s with either retransmission schedule.
    ``connect_times`` lists how long each client waited, as seen from here (from its first
    dropped SYN to its accept).
    """

    backlog = 0

    def __init__(
        self,
        target_port: int,
        delay: float = 3.0,
        *,
        host: str = "127.0.0.1",
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.target_port = target_port
        self.delay = delay
        self.connect_times: list[float] = []
        super().__init__(host=host, lifetime=lifetime)

    def _drops(self) -> int:
        raw = self._listener.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 4 * _MEMINFO_FIELDS)
        return int(struct.unpack(f"{_MEMINFO_FIELDS}I", raw)[-1])

    def _fill(self) -> None:
        filler = socket.socket(self._listener.family, socket.SOCK_STREAM)
        filler.settimeout(5)
        filler.connect((self.host, self.port))
        with self._lock:
            self._clients.append(filler)
        self._filler = filler

    def _start_threads(self) -> None:
        self._drops()  # raises OSError where SO_MEMINFO does not exist (not Linux)
        self._fill()
        self._spawn(self._gate, "gate")

    def _gate(self) -> None:
        seen = self._drops()
        while not self._stopped.is_set():
            while self._drops() == seen:  # no client waiting yet
                if self._stopped.wait(0.01):
                    return
            first_syn = time.monotonic()
            if self._stopped.wait(max(0.0, self.delay - 0.5)):
                return
            try:
                self._listener.settimeout(5)
                filler, _ = self._listener.accept()  # the queue's filler: the gate opens
                filler.close()
                try:
                    client, _ = self._listener.accept()  # the waiting client's next SYN
                finally:
                    # Closed again (also when the client gave up waiting); any drop from here
                    # on is a client waiting (the filler itself finds room).
                    seen = self._drops()
                    self._fill()
            except OSError:
                if self._stopped.is_set():
                    return
                continue
            self.connect_times.append(time.monotonic() - first_syn)
            with self._lock:
                self.connections += 1
                self._clients.append(client)
            self._spawn(self._relay_client, "client", client)

    def _relay_client(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        with self._lock:
            self._clients.append(upstream)
        self._spawn(relay, "upstream", upstream, client)
        relay(client, upstream)

    def __enter__(self) -> SlowAcceptServer:
        return self


_REASONS = {
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FailingProxy(_LoopbackServer):
    """An HTTP proxy on loopback that never gets anywhere.

    CONNECT (https through the proxy) and absolute-URI requests (http through the proxy) are
    answered with ``status`` (502, 503 or 504 typically); with ``refuse_connect`` the proxy reads
    the request and closes the connection without a word. ``url`` is the proxy URL for pip's
    ``--proxy``; ``requests`` records ``(method, target)`` of every request seen.
    """

    def __init__(
        self,
        status: int = 503,
        refuse_connect: bool = False,
        *,
        host: str = "127.0.0.1",
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.status = status
        self.refuse_connect = refuse_connect
        self.requests: list[tuple[str, str]] = []
        super().__init__(host=host, lifetime=lifetime)

    @property
    def url(self) -> str:
        """The proxy URL (``http://127.0.0.1:PORT``), for ``--proxy``."""
        return self.base_url

    def _on_client(self, client: socket.socket) -> None:
        self._spawn(self._serve, "client", client)

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    break
                data += chunk
            request_line = data.split(b"\r\n", 1)[0].decode("latin-1")
            method, _, rest = request_line.partition(" ")
            target = rest.rsplit(" ", 1)[0] if " " in rest else rest
            with self._lock:
                self.requests.append((method, target))
            if not self.refuse_connect and data:
                try:
                    reason = HTTPStatus(self.status).phrase
                except ValueError:
                    reason = _REASONS.get(self.status, "Proxy Error")
                body = f"pip-ff test proxy: {self.status} {reason}\n".encode()
                client.sendall(
                    f"HTTP/1.1 {self.status} {reason}\r\n"
                    "Content-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n".encode("latin-1")
                    + body
                )
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                client.close()
            with self._lock, contextlib.suppress(ValueError):
                self._clients.remove(client)

    def __enter__(self) -> FailingProxy:
        return self


def wait_for_port_closed(host: str, port: int, timeout: float = 5.0) -> bool:
    """True once a connection to ``host:port`` is refused (for checks after ``stop()``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# Every way an index can go away that pip-ff must handle, each on the index's own URL so that
# what was recorded online is what the offline run asks for.
OUTAGES = ("refused", "stall", "blackhole", "proxy-502", "proxy-503", "proxy-504")


@contextlib.contextmanager
def hold_port(port: int, *, accept: bool) -> Iterator[list[socket.socket]]:
    """Listen on ``port`` again: accept and never answer, or never accept (a full SYN queue).

    Yields the sockets held open: with ``accept``, one per connection the client made.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16 if accept else 0)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_loop() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            held.append(client)

    thread = threading.Thread(target=accept_loop, daemon=True)
    if accept:
        thread.start()
    else:
        for _ in range(16):  # fill the accept queue until a probe's SYN goes unanswered
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.25)
            try:
                probe.connect(("127.0.0.1", port))
            except OSError:
                probe.close()
                break
            held.append(probe)
    try:
        yield held
    finally:
        stop.set()
        if accept:
            thread.join(timeout=2)
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()
        listener.close()


@contextlib.contextmanager
def outage(kind: str, index: IndexServer) -> Iterator[list[str]]:
    """Take ``index`` away as ``kind`` says; yields the extra pip arguments the outage needs."""
    index.stop()
    if kind == "refused":
        yield []
    elif kind == "stall":
        with hold_port(index.port, accept=True):
            yield ["--timeout", "3"]
    elif kind == "blackhole":
        with hold_port(index.port, accept=False):
            yield []
    elif kind.startswith("proxy-"):
        with FailingProxy(int(kind.split("-")[1])) as proxy:
            yield ["--proxy", proxy.url]
    else:
        raise ValueError(kind)
