"""The connect deadline: how long a connection may take while a local answer exists.

One rule covers every case:

- ``--timeout`` on this command's own command line is the user's word for this command: it is
  the deadline too, never shortened (a slow proxy the user knows about).
- Otherwise the deadline is the longer of ``PIPFF_CONNECT_TIMEOUT`` (``--connect-timeout``,
  2 s by default) and three times the slowest of the last connects pip-ff saw to that route
  (the index, or the proxy in front of it) in earlier runs: a link whose connects always take
  1.5-3 s (satellite, a congested mobile network) is not taken for an outage, while a host
  that normally connects fast is still given up on after 2 s (a black hole).
- pip's timeout from anywhere else (``PIP_DEFAULT_TIMEOUT``, ``PIP_TIMEOUT``, pip.conf, often
  set machine-wide in CI images) only caps the deadline: it never drops it. A hung proxy then
  costs the deadline, not pip's 180 s.

Connect times are kept per route in one small JSON file in the store's directory; only routes
that were seen to connect slowly are kept, so a run on a fast network never writes it. A
connect that missed its deadline is measured too, in the background (late.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Sequence

logger = logging.getLogger(__name__)

FILE_NAME = "connect-times.json"
# How many of a route's latest connect times are kept, and how much slower than the slowest of
# them a connect may be before it counts as not made.
SAMPLES = 5
FACTOR = 3.0
# A connect at least this slow (seconds) is remembered; faster ones only push out older slow
# ones of a route already remembered.
SLOW = 0.5
# How long the first byte of an answer may take while a local answer exists (seconds), unless
# the route was seen to answer slower: longer than a connect's, since it includes the index's
# own work (a page built on demand, a proxy fetching from its upstream).
FIRST_BYTE = 5.0
# pip's option names for its timeout (and the shortest prefix optparse accepts for each).
_TIMEOUT_OPTIONS = (("--timeout", 4), ("--default-timeout", 5))


def timeout_on_command_line(args: Sequence[str]) -> bool:
    """Whether pip's command line ``args`` set ``--timeout`` (optparse accepts prefixes)."""
    for arg in args:
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        for option, shortest in _TIMEOUT_OPTIONS:
            if len(name) >= shortest and option.startswith(name):
                return True
    return False


def deadline_for(base: float, slowest: float) -> float:
    """The connect deadline of a route whose slowest recent connect took ``slowest`` seconds."""
    return max(base, FACTOR * slowest)


def answer_route(host: str) -> str:
    """The key under which the first-byte times of ``host``'s answers are kept."""
    return f"first byte {host}"


def first_byte_deadline(timeout: object, slowest: float, chosen: bool) -> float | None:
    """How long the first byte of an answer may take, for a request whose pip timeout is
    ``timeout`` (a number, a (connect, read) tuple or None), on a route whose slowest recent
    first byte took ``slowest`` seconds; None: pip's own wait (an urllib3 Timeout object).

    The same rule as the connect's: ``--timeout`` on the command line (``chosen``) is the
    deadline as it is; otherwise the longer of :data:`FIRST_BYTE` and three times the slowest,
    capped by pip's read timeout.
    """
    if isinstance(timeout, tuple):
        read = timeout[1]
    elif isinstance(timeout, (int, float)) or timeout is None:
        read = timeout
    else:
        return None
    if chosen:
        return None if read is None else float(read)
    wait = deadline_for(FIRST_BYTE, slowest)
    return wait if read is None else min(wait, float(read))


class ConnectTimes:
    """The latest connect times of the routes seen to connect slowly (route -> seconds), and
    likewise the first-byte times of their answers (under :func:`answer_route`)."""

    def __init__(self, directory: str | None) -> None:
        self.path = os.path.join(directory, FILE_NAME) if directory else None
        self._lock = threading.Lock()
        self._times: dict[str, list[float]] | None = None
        self._dirty = False

    def _load(self) -> dict[str, list[float]]:
        if self._times is not None:
            return self._times
        times: dict[str, list[float]] = {}
        if self.path is not None:
            try:
                with open(self.path, encoding="utf-8") as handle:
                    data = json.load(handle)
            except (OSError, ValueError):
                data = {}
            if isinstance(data, dict):
                for route, samples in data.items():
                    if isinstance(route, str) and isinstance(samples, list):
                        good = [float(s) for s in samples if isinstance(s, (int, float)) and s > 0]
                        if good:
                            times[route] = good[-SAMPLES:]
        self._times = times
        return times

    def slowest(self, route: str) -> float:
        """The slowest of the route's remembered connects; 0 when it connects fast."""
        with self._lock:
            return max(self._load().get(route, [0.0]))

    def first_byte_wait(
        self, host: str, timeout: object, applies: bool, chosen: bool
    ) -> tuple[str, float | None]:
        """(the key of ``host``'s first-byte times, the first-byte deadline of a request with
        pip timeout ``timeout``, or None where the deadline doesn't apply)."""
        route = answer_route(host)
        if not applies:
            return route, None
        return route, first_byte_deadline(timeout, self.slowest(route), chosen)

    def seen(self, route: str, seconds: float) -> None:
        """A connect to ``route`` was made in ``seconds``."""
        with self._lock:
            times = self._load()
            if seconds < SLOW and route not in times:
                return
            samples = [*times.get(route, []), round(seconds, 3)][-SAMPLES:]
            if max(samples) < SLOW:
                times.pop(route, None)  # fast again: forgotten
            else:
                times[route] = samples
            self._dirty = True

    def save(self) -> None:
        """Write what changed (best effort: a store we can't write keeps its old times)."""
        with self._lock:
            if not self._dirty or self.path is None or self._times is None:
                return
            self._dirty = False
            directory = os.path.dirname(self.path)
            temporary = os.path.join(directory, f".{FILE_NAME}.{secrets.token_hex(6)}")
            try:
                os.makedirs(directory, exist_ok=True)
                with open(temporary, "x", encoding="utf-8") as handle:
                    json.dump(self._times, handle, sort_keys=True)
                os.replace(temporary, self.path)
            except OSError as exc:
                logger.debug("pip-ff: connect times not saved: %s", exc)
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
