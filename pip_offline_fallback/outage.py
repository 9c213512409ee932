"""What counts as "the index can't be reached", and which routes are down for the rest of the run.

An outage is a route that can't be reached, decided at the connection level: a DNS failure, a
refused connection, no route, a connect (or a proxy's CONNECT) not done within the deadline, a
proxy that answers CONNECT with 502/503/504, a TLS handshake that failed. Only these mark a route
down for the run; a dead proxy marks every host behind it down. An index that answers is up: a
5xx, a 429, a reset or a read error first gets pip's own retries, and only when those are spent
does pip-ff answer that one URL locally. Any other answer (401, 403, 404, a hash mismatch) is
pip's to report.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import Any

from pip_offline_fallback import compat

logger = logging.getLogger(__name__)

# Answers that come from a gateway or an overloaded index, not from the index's knowledge.
UNREACHABLE_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524, 527})
# What a proxy answers when it could not reach the index (for a plain-http request it forwards).
PROXY_GATEWAY_STATUSES = frozenset({502, 503, 504})
THROTTLED = 429

# How a failed request is treated (see classify).
ROUTE = "route"  # the route can't be reached: down for the rest of the run
ANSWERED = "answered"  # something answered, badly, after pip's retries: this URL alone
PIPS = "pip's"  # the strict setting: no outage at all; pip reports it as it would

# Causes that say the route itself is gone (describe()'s words).
_ROUTE_CAUSES = frozenset(
    {
        "DNS lookup failed",
        "connection refused",
        "network unreachable",
        "connection timed out",
        "TLS handshake failed",
        "proxy error",
        "proxy answered 502",
        "proxy answered 503",
        "proxy answered 504",
        # A read timeout before any answer, after pip's read retries: the server accepts
        # connections and never says a word (a hung process, a half-open firewall).
        "read timed out",
    }
)
# Under the strict setting only these are an outage: nothing at the other end could be reached.
# Everything else (a 5xx, a 429, a proxy's error answer, a read timeout, a certificate that
# fails verification) is something an on-path attacker can produce without breaking TLS, to
# keep a machine on old versions: strict gives it pip's own failure instead.
STRICT_ROUTE_CAUSES = frozenset(
    {"DNS lookup failed", "connection refused", "network unreachable", "connection timed out"}
)
NETWORK_ERRORS = (
    compat.RequestsConnectionError,  # DNS, refused, reset, proxy and TLS errors
    compat.RequestsTimeout,  # connect and read timeouts
    compat.RequestsRetryError,  # 5xx answers that outlived pip's retries
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (
            getattr(current, "reason", None),
            getattr(current, "original_error", None),
            current.__cause__,
            current.__context__,
            *(a for a in getattr(current, "args", ()) if isinstance(a, BaseException)),
        ):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def describe(exc: BaseException) -> str:
    """A short, credential-free cause for one failed request."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, compat.FirstByteTimeout) for e in chain):
        # No answer began within the first byte's deadline (through a proxy too, which urllib3
        # may then call a proxy error): the server accepts and never says a word.
        return "read timed out"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        marker in text
        for marker in (
            "name or service not known",
            "temporary failure in name resolution",
            "nodename nor servname",
            "failed to resolve",
            "getaddrinfo failed",
            "no address associated",
        )
    ):
        return "DNS lookup failed"
    if "tunnel connection failed" in text or "proxy" in type(exc).__name__.lower():
        for answer in ("502", "503", "504", "403", "407"):
            if f"tunnel connection failed: {answer}" in text:
                return f"proxy answered {answer}"
        return "proxy error"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return "connection refused"
    if "network is unreachable" in text:
        return "network unreachable"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in type(exc).__name__.lower():
        return "TLS handshake failed"
    if isinstance(exc, compat.RequestsRetryError) or "too many" in text:
        for code in sorted(UNREACHABLE_STATUSES):
            if f"{code} error" in text:
                return f"server answered {code}"
        return "server errors"
    if "read timed out" in text:
        return "read timed out"
    if "connect timeout" in text or ("connection to" in text and "timed out" in text):
        return "connection timed out"
    if "timed out" in text:
        return "timed out"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "reset" in text:
        return "connection reset"
    if "remotedisconnected" in text or "connection aborted" in text or "closed connection" in text:
        return "connection dropped"
    return "connection failed"


def classify(exc: BaseException, strict: bool = False) -> tuple[str, str]:
    """(ROUTE, ANSWERED or PIPS, cause) for a request that raised after pip's retries.

    A connection that was never made is a route that can't be reached, whatever the socket
    said (a reset while connecting: a server going down with connections in its queue).
    ``strict``: only a route that can't be reached (STRICT_ROUTE_CAUSES) is an outage; the
    rest is pip's to report (PIPS), never answered locally.
    """
    cause = describe(exc)
    chain = _chain(exc)
    never_connected = any(isinstance(e, compat.NoConnectionError) for e in chain)
    if strict:
        # A proxy that can't itself be reached is a route that can't be reached; its error
        # answers (502 to CONNECT) are answers.
        unreachable = cause in STRICT_ROUTE_CAUSES or (
            cause == "proxy error" and never_connected and _socket_failure(chain)
        )
        if not unreachable and never_connected and cause not in _ROUTE_CAUSES:
            unreachable = True  # a reset while connecting: no answer of any kind
        return (ROUTE if unreachable else PIPS), cause
    return (ROUTE if cause in _ROUTE_CAUSES or never_connected else ANSWERED), cause


def _socket_failure(chain: list[BaseException]) -> bool:
    """Whether the chain ends in the socket failing to connect (not in anything answered)."""
    text = " ".join(str(e) for e in chain).lower()
    return any(isinstance(e, (socket.gaierror, ConnectionRefusedError)) for e in chain) or any(
        marker in text for marker in ("refused", "timed out", "unreachable", "resolve")
    )


def answered_locally(status: int, strict: bool) -> bool:
    """Whether an HTTP answer that outlived pip's retries (5xx, 429) is answered locally."""
    return not strict and (status in UNREACHABLE_STATUSES or status == THROTTLED)


def proxy_route(proxy_url: str) -> str:
    """The outage key of a proxy: every host reached through it shares its fate."""
    return f"proxy {proxy_url}"


class Outage:
    """The hosts found unreachable in this run (and inherited from a parent run)."""

    def __init__(self, inherited: Mapping[str, str] = {}) -> None:
        self._lock = threading.Lock()
        self._down: dict[str, str] = dict(inherited)

    def cause(self, host: str) -> str | None:
        return self._down.get(host)

    def mark_down(self, host: str, cause: str) -> bool:
        """Record a failure; True the first time this host is marked (the caller announces it)."""
        with self._lock:
            if host in self._down:
                return False
            self._down[host] = cause
            return True

    @property
    def hosts(self) -> dict[str, str]:
        return dict(self._down)

    def __bool__(self) -> bool:
        return bool(self._down)


def connect_deadline(timeout: Any, deadline: float) -> Any:
    """pip's timeout with ``deadline`` as its connect part (pip's own timeout for reading):
    for a request with a local answer to fall back on, a route that can't be reached costs
    the deadline, not pip's timeout (15 s) per attempt."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return (min(connect, deadline) if connect else deadline, read)
    if isinstance(timeout, (int, float)):
        return (min(timeout, deadline), timeout)
    if timeout is None:
        return (deadline, None)
    return timeout  # an urllib3 Timeout object: leave pip's choice alone


def connect_part(timeout: Any) -> tuple[float | None] | None:
    """pip's own connect timeout in ``timeout`` (what connect_deadline shortens), in a tuple
    (its value may be None: no timeout); None when it can't be told (an urllib3 Timeout)."""
    if isinstance(timeout, tuple):
        return (timeout[0],)
    if isinstance(timeout, (int, float)) or timeout is None:
        return (timeout,)
    return None
