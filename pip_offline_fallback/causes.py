"""Why a request failed, as a value: what happened (the kind), whether the proxy said it, the
HTTP status, how long it waited. The outage rule (:mod:`.outage`) and the engine branch on the
value; the English words are made from it only for messages (``str(cause)``), so rewording a
message can't change which routes count as down.

:func:`cause_of` is the one place that reads a failure's exceptions (their types, and the text
urllib3 and the socket layer put in them) and turns them into a :class:`Cause`.
"""

from __future__ import annotations

import enum
import socket
import ssl
from dataclasses import dataclass, replace

from pip_offline_fallback import compat


class Kind(enum.Enum):
    DNS = enum.auto()  # the host's name did not resolve
    REFUSED = enum.auto()
    NO_ROUTE = enum.auto()  # the network is unreachable
    CONNECT_TIMEOUT = enum.auto()  # a connect (or a proxy's CONNECT) not made in time
    TLS = enum.auto()  # the TLS handshake failed (with the host itself, even through a tunnel)
    PROXY_ERROR = enum.auto()  # the proxy failed the request without an answer of its own
    PROXY_UNREACHABLE = enum.auto()  # a proxy error where the proxy itself couldn't be reached
    STATUS = enum.auto()  # an HTTP status that outlived pip's retries (``status``)
    SERVER_ERRORS = enum.auto()  # 5xx answers that outlived pip's retries, the code unknown
    READ_TIMEOUT = enum.auto()  # no answer began in time: the server accepts and says nothing
    TIMED_OUT = enum.auto()  # a timeout of no known phase
    RESET = enum.auto()
    DROPPED = enum.auto()  # the server closed the connection without an answer
    FAILED = enum.auto()  # none of the above
    DOUBT = enum.auto()  # an answer that can't be what was asked (``detail`` says why)
    OFFLINE = enum.auto()  # the offline mode: nothing is asked of the network
    SAID = enum.auto()  # a cause another process found (a parent run): ``detail`` is its words


# The words of each kind, for messages only (the warnings and the JSON report print them).
WORDS: dict[Kind, str] = {
    Kind.DNS: "DNS lookup failed",
    Kind.REFUSED: "connection refused",
    Kind.NO_ROUTE: "network unreachable",
    Kind.CONNECT_TIMEOUT: "connection timed out",
    Kind.TLS: "TLS handshake failed",
    Kind.PROXY_ERROR: "proxy error",
    Kind.PROXY_UNREACHABLE: "proxy error",
    Kind.STATUS: "{by} answered {status}",
    Kind.SERVER_ERRORS: "server errors",
    Kind.READ_TIMEOUT: "read timed out",
    Kind.TIMED_OUT: "timed out",
    Kind.RESET: "connection reset",
    Kind.DROPPED: "connection dropped",
    Kind.FAILED: "connection failed",
    Kind.DOUBT: "{detail}",
    Kind.OFFLINE: "offline mode",
    Kind.SAID: "{detail}",
}

TIMEOUTS = frozenset({Kind.CONNECT_TIMEOUT, Kind.READ_TIMEOUT, Kind.TIMED_OUT})
PROXY_ERRORS = frozenset({Kind.PROXY_ERROR, Kind.PROXY_UNREACHABLE})


@dataclass(frozen=True)
class Cause:
    kind: Kind
    proxy: bool = False  # STATUS: the proxy answered it (a tunnel's CONNECT, or a forward)
    status: int | None = None  # STATUS: the HTTP status
    connected: bool = True  # False: no connection was ever made (urllib3 says so)
    waited: float | None = None  # seconds the request waited, said for a deadline that ran out
    detail: str = ""  # DOUBT and SAID: the words, as they were given

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """The cause in a few words, credential-free (what the warnings and the report say)."""
        words = WORDS[self.kind].format(
            by="proxy" if self.proxy else "server", status=self.status, detail=self.detail
        )
        return words if self.waited is None else f"{words} after {self.waited:.1f} s"

    def after(self, waited: float) -> Cause:
        """This cause, saying how long the request waited for it."""
        return replace(self, waited=waited)

    @property
    def timed_out(self) -> bool:
        return self.kind in TIMEOUTS

    def answered(self, status: int) -> bool:
        """Whether the server (not the proxy) answered ``status`` after pip's retries."""
        return self.kind is Kind.STATUS and not self.proxy and self.status == status


def answered(status: int, *, proxy: bool = False) -> Cause:
    """An HTTP answer that outlived pip's retries, from the server or from the ``proxy``."""
    return Cause(Kind.STATUS, proxy=proxy, status=status)


def doubt(why: str) -> Cause:
    return Cause(Kind.DOUBT, detail=why)


def said(words: str) -> Cause:
    """A cause found by another process, known only by its words."""
    return Cause(Kind.SAID, detail=words)


OFFLINE = Cause(Kind.OFFLINE)

# Answers that come from a gateway or an overloaded index, not from the index's knowledge.
UNREACHABLE_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524, 527})
# Statuses a proxy may answer a tunnel's CONNECT with, that pip-ff names.
_TUNNEL_STATUSES = (502, 503, 504, 403, 407)
_DNS_MARKERS = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "failed to resolve",
    "getaddrinfo failed",
    "no address associated",
)


def chain_of(exc: BaseException) -> list[BaseException]:
    """The exception and every one it was raised from or wraps, each once."""
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


def cause_of(exc: BaseException) -> Cause:
    """The cause of one failed request, from the exceptions it raised (after pip's retries)."""
    chain = chain_of(exc)
    connected = not any(isinstance(e, compat.NoConnectionError) for e in chain)
    kind, status, proxy = _kind_of(exc, chain)
    if kind is Kind.PROXY_ERROR and not connected and _socket_failure(chain):
        kind = Kind.PROXY_UNREACHABLE
    return Cause(kind, proxy=proxy, status=status, connected=connected)


def describe(exc: BaseException) -> str:
    """A short, credential-free cause for one failed request, in words."""
    return str(cause_of(exc))


def _kind_of(exc: BaseException, chain: list[BaseException]) -> tuple[Kind, int | None, bool]:
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, compat.FirstByteTimeout) for e in chain):
        # No answer began within the first byte's deadline (through a proxy too, which urllib3
        # may then call a proxy error): the server accepts and never says a word.
        return Kind.READ_TIMEOUT, None, False
    if any(isinstance(e, socket.gaierror) for e in chain) or any(m in text for m in _DNS_MARKERS):
        return Kind.DNS, None, False
    if "tunnel connection failed" in text or "proxy" in type(exc).__name__.lower():
        for answer in _TUNNEL_STATUSES:
            if f"tunnel connection failed: {answer}" in text:
                return Kind.STATUS, answer, True
        return Kind.PROXY_ERROR, None, False
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return Kind.REFUSED, None, False
    if "network is unreachable" in text:
        return Kind.NO_ROUTE, None, False
    if any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in type(exc).__name__.lower():
        return Kind.TLS, None, False
    if isinstance(exc, compat.RequestsRetryError) or "too many" in text:
        for code in sorted(UNREACHABLE_STATUSES):
            if f"{code} error" in text:
                return Kind.STATUS, code, False
        return Kind.SERVER_ERRORS, None, False
    if "read timed out" in text:
        return Kind.READ_TIMEOUT, None, False
    if "connect timeout" in text or ("connection to" in text and "timed out" in text):
        return Kind.CONNECT_TIMEOUT, None, False
    if "timed out" in text:
        return Kind.TIMED_OUT, None, False
    if any(isinstance(e, ConnectionResetError) for e in chain) or "reset" in text:
        return Kind.RESET, None, False
    if "remotedisconnected" in text or "connection aborted" in text or "closed connection" in text:
        return Kind.DROPPED, None, False
    return Kind.FAILED, None, False


def _socket_failure(chain: list[BaseException]) -> bool:
    """Whether the chain ends in the socket failing to connect (not in anything answered)."""
    text = " ".join(str(e) for e in chain).lower()
    return any(isinstance(e, (socket.gaierror, ConnectionRefusedError)) for e in chain) or any(
        marker in text for marker in ("refused", "timed out", "unreachable", "resolve")
    )
