"""The four outages of the benchmarks, all on loopback.

- ``refused``: the index is stopped; its port refuses connections.
- ``dns``: the index is reached by a name that does not resolve, and no query leaves the
  machine (benchmarks/dns.py).
- ``blackhole``: the index's own port listens with a full accept queue and never accepts; a
  connection attempt gets no SYN-ACK and ends at the client's connect timeout.
- ``proxy-503``: pip goes through a proxy that answers 503 to everything.

The others are the test bed's own (:func:`testbed.outage`), on the index's own port.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Callable

import testbed
from benchmarks.dns import DNS_HOST, NxdomainResolver
from testbed import IndexServer

MODES = ("refused", "dns", "blackhole", "proxy-503")


@dataclass
class Outage:
    """An outage in force: extra pip arguments, and how to wrap a command run during it."""

    kind: str
    args: list[str] = field(default_factory=list)
    wrap: Callable[[Sequence[str]], list[str]] = list


def _check_black_hole(port: int) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
    except (socket.timeout, TimeoutError):
        return
    except OSError as exc:
        raise RuntimeError(f"black hole on port {port}: connect failed at once ({exc})") from None
    finally:
        probe.close()
    raise RuntimeError(f"black hole on port {port}: a connection was accepted")


@contextlib.contextmanager
def outage(
    kind: str, index: IndexServer, resolver: NxdomainResolver | None = None
) -> Iterator[Outage]:
    """Take ``index`` away as ``kind`` says, for the duration of the block."""
    if kind == "dns":
        if resolver is None:
            raise RuntimeError("the DNS outage needs the loopback resolver")
        index.stop()
        yield Outage(kind, ["--trusted-host", DNS_HOST], resolver.wrap)
        return
    if kind not in MODES:
        raise ValueError(kind)
    with testbed.outage(kind, index) as args:
        if kind == "blackhole":
            _check_black_hole(index.port)
        yield Outage(kind, args)
