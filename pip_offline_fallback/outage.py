"""What counts as "the index can't be reached", and which routes are down for the rest of the run.

An outage is a route that can't be reached, decided at the connection level: a DNS failure, a
refused connection, no route, a connect (or a proxy's CONNECT) not done within the deadline, a
proxy that answers CONNECT with 502/503/504, a TLS handshake that failed. Only these mark a route
down for the run; a dead proxy marks every host behind it down. An index that answers is up: a
5xx, a 429, a reset or a read error first gets pip's own retries, and only when those are spent
does pip-ff answer that one URL locally. Any other answer (401, 403, 404, a hash mismatch) is
pip's to report.

This is the engine's route rule: what a failed request (:func:`judge`) or an answer that came
(:func:`judge_answer`) means for its route, decided on the cause as a value (:mod:`.causes`),
and how long a request may wait (:func:`waits`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Union

from pip_offline_fallback import compat
from pip_offline_fallback.causes import (
    PROXY_ERRORS,
    UNREACHABLE_STATUSES,
    Cause,
    Kind,
    answered,
    cause_of,
    said,
)
from pip_offline_fallback.config import Settings
from pip_offline_fallback.deadline import ConnectTimes, deadline_for

if TYPE_CHECKING:
    from pip._vendor.urllib3.util.timeout import Timeout

    # What requests takes as a send's timeout: seconds, (connect, read), none, urllib3's own.
    SendTimeout = Union[float, tuple[Union[float, None], Union[float, None]], None, Timeout]

logger = logging.getLogger(__name__)

# What a proxy answers when it could not reach the index (for a plain-http request it forwards).
PROXY_GATEWAY_STATUSES = frozenset({502, 503, 504})
THROTTLED = 429

# How a failed request is treated (see classify).
ROUTE = "route"  # the route can't be reached: down for the run
ANSWERED = "answered"  # something answered, badly, after pip's retries: this URL alone
PIPS = "pip's"  # the strict setting: no outage at all; pip reports it as it would

# Causes that say the route itself is gone. A read timeout is one: no answer began, after
# pip's read retries (the server accepts connections and never says a word: a hung process,
# a half-open firewall).
_ROUTE_KINDS = frozenset(
    {
        Kind.DNS,
        Kind.REFUSED,
        Kind.NO_ROUTE,
        Kind.CONNECT_TIMEOUT,
        Kind.TLS,
        Kind.PROXY_ERROR,
        Kind.PROXY_UNREACHABLE,
        Kind.READ_TIMEOUT,
    }
)
# Under the strict setting only these are an outage: nothing at the other end could be reached.
# Everything else (a 5xx, a 429, a proxy's error answer, a read timeout, a certificate that
# fails verification) is something an on-path attacker can produce without breaking TLS, to
# keep a machine on old versions: strict gives it pip's own failure instead. A proxy that
# can't itself be reached is a route that can't be reached; its error answers are answers.
_STRICT_ROUTE_KINDS = frozenset(
    {Kind.DNS, Kind.REFUSED, Kind.NO_ROUTE, Kind.CONNECT_TIMEOUT, Kind.PROXY_UNREACHABLE}
)
NETWORK_ERRORS = (
    compat.RequestsConnectionError,  # DNS, refused, reset, proxy and TLS errors
    compat.RequestsTimeout,  # connect and read timeouts
    compat.RequestsRetryError,  # 5xx answers that outlived pip's retries
)


def _route_cause(cause: Cause) -> bool:
    if cause.kind is Kind.STATUS:
        return cause.proxy and cause.status in PROXY_GATEWAY_STATUSES
    return cause.kind in _ROUTE_KINDS


def verdict(cause: Cause, strict: bool = False) -> str:
    """ROUTE, ANSWERED or PIPS for a request that failed with ``cause`` after pip's retries.

    A connection that was never made is a route that can't be reached, whatever the socket
    said (a reset while connecting: a server going down with connections in its queue).
    ``strict``: only a route that can't be reached is an outage; the rest is pip's to report
    (PIPS), never answered locally.
    """
    if strict:
        unreachable = cause.kind in _STRICT_ROUTE_KINDS or (
            not cause.connected and not _route_cause(cause)  # no answer of any kind
        )
        return ROUTE if unreachable else PIPS
    return ROUTE if _route_cause(cause) or not cause.connected else ANSWERED


def classify(exc: BaseException, strict: bool = False) -> tuple[str, Cause]:
    """(ROUTE, ANSWERED or PIPS, the cause) for a request that raised after pip's retries."""
    cause = cause_of(exc)
    return verdict(cause, strict), cause


@dataclass(frozen=True)
class Failed:
    """What a request that raised after pip's retries means (see :func:`judge`)."""

    verdict: str  # ROUTE, ANSWERED or PIPS
    cause: Cause
    down: str | None  # the route (a host, or a proxy's key) now down; None: none


def judge(
    exc: BaseException, *, strict: bool, host: str, via: str | None, plain_http: bool, waited: float
) -> Failed:
    """The rule for a request to ``host`` (through the proxy route ``via``, if any) that
    raised ``exc`` after ``waited`` seconds."""
    kind, cause = classify(exc, strict)
    if kind == ROUTE and (cause.timed_out or (cause.kind in PROXY_ERRORS and waited >= 1)):
        cause = cause.after(waited)  # a deadline (or a timeout) ran out: say how long it took
    if kind == PIPS:
        return Failed(kind, cause, None)  # the strict setting: pip says what happened
    if via and plain_http and any(cause.answered(s) for s in PROXY_GATEWAY_STATUSES):
        # A 502/503/504 outlived pip's retries on a request the proxy forwards itself: the
        # proxy's word that it can't reach the index, for every host behind it.
        kind, cause = ROUTE, replace(cause, proxy=True)
    if kind != ROUTE:
        return Failed(kind, cause, None)
    # Through a proxy everything but a TLS handshake (which, through a tunnel, is with the
    # host itself) happened between pip and the proxy: every host behind it is down.
    return Failed(kind, cause, via if via and cause.kind is not Kind.TLS else host)


def answered_locally(status: int, strict: bool) -> bool:
    """Whether an HTTP answer that outlived pip's retries (5xx, 429) is answered locally."""
    return not strict and (status in UNREACHABLE_STATUSES or status == THROTTLED)


def judge_answer(status: int, *, strict: bool, via: str | None, plain_http: bool) -> Failed | None:
    """The rule for an HTTP answer that came (after pip's retries): None when it is pip's."""
    if via and status in PROXY_GATEWAY_STATUSES and plain_http and not strict:
        # The proxy forwards plain-http requests itself: this is its word that it could not
        # reach the index (after pip's retries), for every host behind it.
        return Failed(ROUTE, answered(status, proxy=True), via)
    if answered_locally(status, strict):
        return Failed(ANSWERED, answered(status), None)
    return None


@dataclass(frozen=True)
class Waits:
    """How long a request may wait (see :func:`waits`)."""

    kwargs: dict[str, Any]  # pip's send arguments, the connect part of the timeout shortened
    patience: tuple[str, float | None] | None  # (route, pip's own connect timeout): late.py
    answer: tuple[str, float | None]  # (the route's first-byte key, the first byte's deadline)


def waits(
    times: ConnectTimes,
    kwargs: dict[str, Any],
    settings: Settings,
    host: str,
    hop: str,
    fast: bool,
    chosen: bool,
) -> Waits:
    """The deadlines of a request to ``host`` whose connection goes to ``hop``: ``fast``, it has
    a local answer to fall back on; ``chosen``, the timeout is the user's own (never shortened)."""
    patience = None
    if fast and not chosen:
        wait = deadline_for(settings.connect_timeout, times.slowest(hop))
        pips = connect_part(kwargs.get("timeout"))
        kwargs = dict(kwargs, timeout=connect_deadline(kwargs.get("timeout"), wait))
        # A connect that misses the deadline goes on up to pip's own timeout (late.py).
        patience = None if pips is None else (hop, pips[0])
    # The answer's first byte: timed always; a deadline like the connect's while a local
    # answer exists (not under the strict setting: there a read timeout is pip's).
    applies = fast and not settings.strict
    answer = times.first_byte_wait(host, kwargs.get("timeout"), applies, chosen)
    return Waits(kwargs, patience, answer)


def proxy_route(proxy_url: str) -> str:
    """The outage key of a proxy: every host reached through it shares its fate."""
    return f"proxy {proxy_url}"


class Outage:
    """The hosts found unreachable in this run (and inherited from a parent run)."""

    def __init__(self, inherited: Mapping[str, str] = {}) -> None:
        self._lock = threading.Lock()
        # A parent run's causes are known by their words alone.
        self._down: dict[str, Cause] = {h: said(c) for h, c in inherited.items()}

    def cause(self, host: str, via: str | None = None) -> Cause | None:
        """Why ``host`` (or the proxy route ``via`` it is reached through) is down; None: up."""
        return self._down.get(host) or (self._down.get(via) if via else None)

    def mark_down(self, host: str, cause: Cause) -> bool:
        """Record a failure; True the first time this host is marked (the caller announces it)."""
        with self._lock:
            if host in self._down:
                return False
            self._down[host] = cause
            return True

    def clear(self) -> None:
        """Every route is up again (serve asks them again after a while)."""
        with self._lock:
            self._down.clear()

    @property
    def hosts(self) -> dict[str, str]:
        """Each route down, with its cause in words (for a child run, serve's status)."""
        return {host: str(cause) for host, cause in self._down.items()}

    def __bool__(self) -> bool:
        return bool(self._down)


def connect_deadline(timeout: SendTimeout, deadline: float) -> SendTimeout:
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


def connect_part(timeout: SendTimeout) -> tuple[float | None] | None:
    """pip's own connect timeout in ``timeout`` (what connect_deadline shortens), in a tuple
    (its value may be None: no timeout); None when it can't be told (an urllib3 Timeout)."""
    if isinstance(timeout, tuple):
        return (timeout[0],)
    if isinstance(timeout, (int, float)) or timeout is None:
        return (timeout,)
    return None
