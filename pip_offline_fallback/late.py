"""Waits that are given up on, and still teach: a connect (or a first byte) that misses its
deadline goes on.

A request with a local answer to fall back on gives its connect a deadline (deadline.py). A
route that always connects in 3 s misses a 2 s deadline every time, and a connect that was given
up on was never measured: such a route was taken for an outage in every run, although pip
would have reached it. So the connect is made on a daemon thread with pip's own timeout, and
the request waits for it only up to the deadline. When the deadline passes the request goes on
at once (it falls back), while the connect carries on in the background; if it is made, how
long it really took is kept (the route's connect times), and the connection is closed. By the
next run the route's deadline covers it. The first byte of an answer (the wait for its status
line) gets the same treatment, with its own deadline (deadline.first_byte_deadline); on a plain
TCP socket the request first watches the socket itself up to the deadline, so an answer that
comes in time costs no thread.

Bounded: at most :data:`MAX_LATE` late waits at a time (beyond that a connect is bounded by
its deadline on the socket, as before, and a first byte gets pip's own wait; neither is learnt
from), each at most pip's own timeout (:data:`LONGEST` without one), on daemon threads; the end
of a command waits for them at most :data:`SETTLE` seconds.
"""

from __future__ import annotations

import logging
import select
import socket
import sys
import threading
import time
from typing import Callable, TypeVar, cast

from pip_offline_fallback import bugs

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Late waits carried on at once (a hung proxy in front of many hosts must not pile up threads).
MAX_LATE = 8
# How long a late wait may go on when pip sets no timeout of its own (seconds).
LONGEST = 60.0
# How long the end of a command waits for late waits still going on (seconds).
SETTLE = 1.0


class Late:
    """The late waits of this process."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pending = 0

    def room(self) -> bool:
        """Whether one more wait may go on in the background."""
        with self._changed:
            return self._pending < MAX_LATE

    def within(
        self,
        work: Callable[[], T],
        deadline: float,
        *,
        learn: Callable[[float], None],
        tidy: Callable[[T | None], None],
        missed: Callable[[], BaseException],
    ) -> T:
        """``work()``'s result (or its error) if it is done within ``deadline`` seconds; else
        ``missed()`` is raised at once, ``work`` goes on in the background, and once done
        (made in so many seconds: ``learn``; then always ``tidy`` with its result, None if it
        failed) is forgotten."""
        outcome: list[tuple[bool, object]] = []  # (done well, result or error)
        done = threading.Event()
        abandoned = False
        started = time.monotonic()

        def run() -> None:
            try:
                outcome.append((True, work()))
            except BaseException as exc:  # handed to the waiting request, or dropped when late
                outcome.append((False, exc))
            took = time.monotonic() - started
            with self._changed:
                done.set()
                late = abandoned
            if late:
                made, value = outcome[0]
                result = cast("T", value) if made else None
                self._finish_late(result, made, took, learn, tidy)

        thread = threading.Thread(target=run, name="pip-ff wait", daemon=True)
        thread.start()
        if not done.wait(deadline):
            with self._changed:
                if not done.is_set():
                    abandoned = True
                    self._pending += 1
            if abandoned:
                raise missed()
        ok, value = outcome[0]
        if not ok:
            raise cast(BaseException, value)
        return cast("T", value)

    def _finish_late(
        self,
        result: T | None,
        made: bool,
        took: float,
        learn: Callable[[float], None],
        tidy: Callable[[T | None], None],
    ) -> None:
        # On a thread of its own nothing waits for this: a bug is said (or, under
        # PIPFF_RAISE_BUGS, raised on this thread, where threading's hook shows it), and the
        # wait is counted off whatever happens.
        try:
            try:
                if made:
                    learn(took)
            except Exception as exc:
                bugs.unexpected(exc, "learning from a late wait")
            finally:
                try:
                    tidy(result)
                except OSError:
                    # Closing what the late wait opened: the socket may already be gone.
                    logger.debug("pip-ff: a late wait could not be tidied", exc_info=True)
                except Exception as exc:
                    bugs.unexpected(exc, "tidying a late wait")
        finally:
            with self._changed:
                self._pending -= 1
                self._changed.notify_all()

    def settle(self, seconds: float = SETTLE) -> None:
        """Wait (at most ``seconds``) for the late waits still going on: what they teach is
        kept with the rest when the command ends."""
        end = time.monotonic() + seconds
        with self._changed:
            while self._pending:
                left = end - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(left)


# One per process: the threads are the process's, whatever engine started them.
_late = Late()


def settle(seconds: float = SETTLE) -> None:
    """The end of a command: wait (at most ``seconds``) for late waits still going on."""
    _late.settle(seconds)


def connect_within(
    connection: object,
    original: Callable[[], T],
    bound: float | None,
    learn: Callable[[float], None],
    missed: Callable[[float], BaseException],
) -> T:
    """urllib3's ``connection.connect()`` (``original``) with its deadline (the connection's
    connect timeout, as the engine set it) and, when it is missed, learnt from in the
    background with ``bound`` (pip's own connect timeout) as its real limit; ``missed(deadline)``
    is the error of a connect given up on."""
    deadline = getattr(connection, "timeout", None)
    limit = LONGEST if bound is None else bound
    if not isinstance(deadline, (int, float)) or deadline >= limit or not _late.room():
        return original()
    connection.timeout = limit  # type: ignore[attr-defined]  # the socket's own limit
    close = getattr(connection, "close", None)
    result = _late.within(
        original,
        float(deadline),
        learn=learn,
        tidy=lambda _: close() if callable(close) else None,
        missed=lambda: missed(deadline),
    )
    connection.timeout = deadline  # type: ignore[attr-defined]
    return result


def first_byte(
    original: Callable[[], T],
    deadline: float,
    learn: Callable[[float], None],
    missed: Callable[[], BaseException],
    sock: object = None,
) -> T:
    """urllib3's ``connection.getresponse()`` (``original``: the wait for an answer's status
    line and headers) with a deadline; when it is missed the wait goes on in the background,
    up to pip's read timeout (the socket's), to learn how long the route takes to answer.
    With no room for one more late wait: pip's own wait.

    ``sock``: the connection's socket. A plain TCP socket is watched in place: once anything
    arrives within the deadline, the answer is read on this thread (most answers: no thread
    per request); only a wait past the deadline goes to the background. A TLS socket is always
    waited for on a thread: its socket can be readable with no answer in it (a session ticket).

    A first byte that the socket's own timeout gave up on is a miss too (never retried as a
    read): with ``--timeout`` the deadline and the socket's timeout are the same wait, and
    whichever ends first must say the same thing."""

    def wait() -> T:
        try:
            return original()
        except socket.timeout as exc:
            raise missed() from exc

    started = time.monotonic()
    if type(sock) is socket.socket and _readable(sock, deadline):
        return wait()
    if not _late.room():
        return wait()
    waited = time.monotonic() - started
    return _late.within(
        wait,
        max(0.0, deadline - waited),
        learn=lambda seconds: learn(seconds + waited),
        tidy=_close,
        missed=missed,
    )


def _readable(sock: socket.socket, seconds: float) -> bool:
    """Whether anything (bytes, or the end of the connection) arrives on a plain socket within
    ``seconds``; False when it can't be watched (then the thread waits, as for TLS)."""
    try:
        if sys.platform == "win32":  # no poll(); select() takes any socket there
            return bool(select.select([sock], [], [], seconds)[0])
        poller = select.poll()  # not select(): it can't watch a descriptor past 1023
        poller.register(sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(max(0, int(seconds * 1000))))
    except (OSError, ValueError):
        return False


def _close(response: object) -> None:
    close = getattr(response, "close", None)
    if callable(close):
        close()
