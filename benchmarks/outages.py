"""The outages of the benchmarks, all on loopback.

- ``refused``: the index is stopped; its port refuses connections.
- ``dns``: the index is reached by a name that does not resolve, and no query leaves the
  machine (benchmarks/dns.py).
- ``blackhole``: the index's own port listens with a full accept queue and never accepts; a
  connection attempt gets no SYN-ACK and ends at the client's connect timeout.
- ``proxy-connect-503``: an https index, reached through a proxy (``--proxy``) that answers
  every CONNECT with 503: the proxy says at once that it can't get there (a route failure).
- ``proxy-hung``: the same https index, through a proxy that accepts the connection and never
  answers the CONNECT (a hung proxy): only a deadline ends the wait.
- ``proxy-http-503``: a plain-http index through a proxy that answers 503 to every request.
  A 503 that a proxy relays from a working index looks the same, so pip's status retries
  (0 + 0.5 + 1 + 2 + 4 s) run before pip-ff decides: the retry case, measured for its
  decision only.

The https index of the proxy outages serves its pages on 127.0.0.1 and its files on localhost
(:class:`TwoHostIndex`): two hosts behind one proxy, so that a wait paid per host rather than
once per run shows.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import quote

import testbed
from benchmarks.dns import DNS_HOST, NxdomainResolver
from testbed import FailingProxy, IndexServer, StallServer

MODES = ("refused", "dns", "blackhole", "proxy-connect-503", "proxy-hung", "proxy-http-503")
# Measured for the decision only (the fallback install is that wait plus another outage's).
DECISION_ONLY = frozenset({"proxy-http-503"})
# Which index each outage takes away (benchmarks/sections/fallback.py makes them).
INDEX_KIND = {
    "refused": "http",
    "dns": "dns",
    "blackhole": "http",
    "proxy-connect-503": "https-two-hosts",
    "proxy-hung": "https-two-hosts",
    "proxy-http-503": "http",
}
PROXY_LIFETIME = 3600.0  # seconds; the proxies stop by themselves after that


class TwoHostIndex(IndexServer):
    """The test index over https, its pages on ``127.0.0.1`` and its files on ``localhost``.

    One server, two host names (its certificate names both): as an index whose files are on
    another host (a CDN). Behind a proxy, both are reached through the same CONNECT route.
    """

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/simple/"

    def file_url(self, filename: str) -> str:
        return f"{self.scheme}://localhost:{self.port}/files/{quote(filename)}"


@dataclass
class Outage:
    """An outage in force: extra pip arguments, and how to wrap a command run during it.

    ``proxy`` is the failing proxy of a proxy outage (its ``connections`` count every
    connection pip opened to it).
    """

    kind: str
    args: list[str] = field(default_factory=list)
    wrap: Callable[[Sequence[str]], list[str]] = list
    proxy: FailingProxy | StallServer | None = None


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


def hung_proxy() -> StallServer:
    """A proxy that accepts every connection and never answers (its ``base_url`` for --proxy)."""
    return StallServer(lifetime=PROXY_LIFETIME)


@contextlib.contextmanager
def outage(
    kind: str, index: IndexServer, resolver: NxdomainResolver | None = None
) -> Iterator[Outage]:
    """Take ``index`` away as ``kind`` says, for the duration of the block."""
    if kind not in MODES:
        raise ValueError(kind)
    if kind == "dns":
        if resolver is None:
            raise RuntimeError("the DNS outage needs the loopback resolver")
        index.stop()
        yield Outage(kind, ["--trusted-host", DNS_HOST], resolver.wrap)
        return
    if kind in ("proxy-connect-503", "proxy-http-503"):
        want = "https" if kind == "proxy-connect-503" else "http"
        if index.scheme != want:
            raise ValueError(f"{kind} needs an {want} index, not {index.url}")
        # The index is stopped too: nothing but pip-ff's record can answer.
        index.stop()
        with FailingProxy(503, lifetime=PROXY_LIFETIME) as failing:
            yield Outage(kind, ["--proxy", failing.url], proxy=failing)
        return
    if kind == "proxy-hung":
        index.stop()
        with hung_proxy() as stall:
            yield Outage(kind, ["--proxy", stall.base_url], proxy=stall)
        return
    with testbed.outage(kind, index) as args:
        if kind == "blackhole":
            _check_black_hole(index.port)
        yield Outage(kind, args)
