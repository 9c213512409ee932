"""The DNS outage of the benchmarks, on loopback only.

The index is reached by a name that does not resolve (``pipff-index.invalid``). Online it was
reached through a forwarding proxy (testbed/proxies.py), with file URLs relative to its pages
(:class:`RelativeFilesIndex`); offline the name must fail to resolve *without a query leaving
the machine*: commands run in their own mount namespace whose ``/etc/resolv.conf`` names a
resolver on a loopback address, served by :class:`NxdomainResolver`, which answers every
question with NXDOMAIN (what a real resolver says for ``.invalid``). Needs root (``unshare
--mount``) and a free port 53 on that address.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from testbed import IndexServer

DNS_HOST = "pipff-index.invalid"


class RelativeFilesIndex(IndexServer):
    """The test index, with file URLs relative to the page (``/files/x.whl``).

    Reached by another name (through a proxy), its pages then send pip to that same name for the
    files, as a real index on its own host does, instead of to 127.0.0.1.
    """

    def file_url(self, filename: str) -> str:
        return f"/files/{quote(filename)}"


class NxdomainResolver:
    """A DNS server on ``127.x.y.z:53`` (UDP) that answers NXDOMAIN to every question.

    :meth:`wrap` prefixes a command so that it runs in a private mount namespace where
    ``/etc/resolv.conf`` names only this server. Bounded: it stops with :meth:`close`, and its
    thread is a daemon.
    """

    def __init__(self, workdir: Path) -> None:
        # A loopback address of our own (all of 127/8 is loopback on Linux): no clash with a
        # resolver that may already listen on 127.0.0.1:53 or 127.0.0.53:53.
        pid = os.getpid()
        self.address = f"127.{53 + (pid >> 16) % 150}.{(pid >> 8) & 255}.{max(1, pid & 255)}"
        self.questions = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.address, 53))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pipff-bench-dns", daemon=True)
        self._thread.start()
        self.resolv_conf = workdir / "resolv.conf"
        self.resolv_conf.write_text(
            f"# pip-ff benchmarks: every name fails, on loopback\nnameserver {self.address}\n"
            "options attempts:1 timeout:1\n"
        )

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            answer = _nxdomain(data)
            if answer is not None:
                self.questions += 1
                with contextlib.suppress(OSError):
                    self._sock.sendto(answer, peer)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            str(self.resolv_conf),
            *argv,
        ]

    def check(self, python: str) -> str:
        """Resolve DNS_HOST in the namespace; the error text (raises if it did not fail here)."""
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.getaddrinfo({DNS_HOST!r}, 80)\n"
            "except socket.gaierror as exc:\n"
            "    print(exc)\n"
            "else:\n"
            "    raise SystemExit('resolved?!')\n"
        )
        before = self.questions
        done = subprocess.run(
            self.wrap([python, "-c", code]),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0 or self.questions == before:
            raise RuntimeError(
                f"the loopback resolver was not used (exit {done.returncode}): "
                f"{done.stdout}{done.stderr}"
            )
        return done.stdout.strip()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)


def _nxdomain(query: bytes) -> bytes | None:
    """The NXDOMAIN answer to a DNS query (same id and question), or None if it isn't one."""
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:
        return None  # a response, or not one question
    i = 12
    while i < len(query) and query[i] != 0:
        i += 1 + query[i]
    end = i + 5  # the root label, QTYPE, QCLASS
    if end > len(query):
        return None
    flags_out = 0x8000 | (flags & 0x7900) | 0x0080 | 3  # QR, opcode+RD kept, RA, NXDOMAIN
    return struct.pack("!HHHHHH", qid, flags_out, 1, 0, 0, 0) + query[12:end]


def dns_unavailable_reason() -> str | None:
    """Why the loopback-only DNS outage can't be staged here, or None when it can."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root (a private mount namespace for /etc/resolv.conf, and port 53)"
    for tool in ("unshare", "mount", "sh"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None
