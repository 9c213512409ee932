"""Helpers for the product tests: outages on the index's own port, a forwarding proxy."""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import shutil
import socket
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.testbed.index import IndexServer
from tests.testbed.outages import FailingProxy

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


class ForwardingProxy:
    """A plain-HTTP proxy that sends every request, whatever its host, to one index server.

    With it an index can be reached online under a name that does not resolve; without it the
    same URLs fail with a real DNS error.
    """

    def __init__(self, index: IndexServer) -> None:
        target = index

        class Handler(BaseHTTPRequestHandler):
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
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            threading.Thread(target=self._relay, args=(upstream, client), daemon=True).start()
            self._relay(client, upstream)

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def __enter__(self) -> TunnelProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()


def age_pip_cache(cache_dir: Path, seconds: float) -> int:
    """Make every entry of pip's HTTP cache look ``seconds`` older (its Date header).

    pip 26.2+ answers index pages from its cache without asking the index while they are fresh
    (PyPI says max-age=600); an aged cache makes it revalidate, so the outage is really met.
    Returns how many entries were changed.
    """
    from pip._vendor import msgpack

    changed = 0
    for layout in ("http-v2", "http"):
        for path in (cache_dir / layout).rglob("*"):
            if not path.is_file() or path.suffix == ".body":
                continue
            data = path.read_bytes()
            if not data.startswith(b"cc=4,"):
                continue
            entry = msgpack.loads(data[5:], raw=False)
            headers = entry["response"]["headers"]
            for name in [k for k in headers if k.lower() == "date"]:
                then = email.utils.parsedate_to_datetime(headers[name]).timestamp() - seconds
                headers[name] = email.utils.formatdate(then, usegmt=True)
                changed += 1
            path.write_bytes(b"cc=4," + msgpack.dumps(entry, use_bin_type=True))
    return changed


def warm(template: Path, dest: Path, index: IndexServer, env: dict[str, str], *reqs: str) -> Any:
    """Install ``reqs`` with pip-ff while the index answers (pip-ff records what it receives)."""
    from tests.testbed import clone_venv

    venv = clone_venv(template, dest)
    venv.pipff("install", "-i", index.url, *reqs, env=env).check()
    return venv


def wheelhouse_of(dist_dir: Path, dest: Path, pattern: str) -> Path:
    """A wheelhouse directory holding copies of the distributions matching ``pattern``."""
    dest.mkdir()
    for wheel in Path(dist_dir).glob(pattern):
        (dest / wheel.name).write_bytes(wheel.read_bytes())
    return dest


@pytest.fixture(autouse=True)
def drop_venvs_after_success(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """A venv is ~20 MB: the ones a test made are removed once it passed (kept for a look after
    a failure)."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed == failed:
        for marker in tmp_path.glob("*/pyvenv.cfg"):
            shutil.rmtree(marker.parent, ignore_errors=True)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def run_checked(
    args: list[str], env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a set-up command (installing a tool, say); RuntimeError with the output's tail when it
    fails or cannot run, so that the caller can skip with the reason."""
    try:
        done = subprocess.run(
            args,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{' '.join(args)}: {exc!r}") from exc
    if done.returncode != 0:
        output = tail(done.stdout + done.stderr)
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{output}")
    return done


def warnings_about_unreachable(output: str) -> list[str]:
    return [line for line in output.splitlines() if "is unreachable (" in line and "pip-ff" in line]
