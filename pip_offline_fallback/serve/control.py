"""The per-user serve's side of its life cycle: its proof, its counts, its idle timer.

``pip-ff run`` asks ``/-pipff/ask/<nonce>/<question>`` (without the token) before it points a
command at a port, and again after the command when the serve's tally changed (below). The
answer says who the serve is (pid, pip-ff version, fingerprint), what it has answered from local
sources so far (by kind and source) and which hosts it finds down, with HMAC(secret, nonce + all
of that): only a process that can read this user's ``serve/secret`` (0600, in a 0700 directory)
can answer. ``question`` (proving.question: HMAC(secret, the Host asked and the nonce), under
run's own prefix) proves the question comes from this user: a serve without a token (a public
index) tells no one else what it answered. The question is bound to this serve's own address
and to the time in its nonce, so that a program that took a port and got one can't replay it
elsewhere. One request each time: the token never goes out with it, so it is never sent before
the serve is proven.

An older ``pip-ff run`` asked in two steps, ``/-pipff/proof/<nonce>`` (the proof alone) then
``<prefix>/-pipff/state/<nonce>/<asker>``; both are still answered, so that it can prove and
replace this serve.

After its command, run reads ``<state>/answered`` (this serve's pid and how many answers it has
given from local sources; brought up to date when a question is answered, and rewritten by the
first local answer after it, before that answer goes out) and asks again only when it changed
since its question: the closing line is then the same, without a request.

The idle timer ends the serve after ``idle`` seconds without a request (none in flight).
"""

from __future__ import annotations

import _thread
import contextlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pip_offline_fallback import __version__
from pip_offline_fallback.findings import SOURCE_WORDS
from pip_offline_fallback.serve import proving, state
from pip_offline_fallback.serve.files import Reply, text

logger = logging.getLogger(__name__)

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# How run's closing line names each source: install's words (report.py), said by the serve so
# that run needn't import the report.
WORDS = {source.value: words for source, words in SOURCE_WORDS.items()}


class Control:
    def __init__(
        self,
        app: App,
        *,
        key: bytes,
        fingerprint: str,
        idle: float,
        down: Callable[[], dict[str, str]],
        held: Callable[[], bool] = lambda: False,
        stopping: Callable[[], bool] = lambda: True,
        tally: str | None = None,
    ) -> None:
        self.app = app
        self.key = key
        self.fingerprint = fingerprint
        self.idle = idle
        self.down = down
        self.held = held  # a run's command still running (state.held)
        self.stopping = stopping  # asked once idle and not held: may it stop (idlestop.py)
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._active = 0
        self._last = time.monotonic()
        # <state>/answered (state.ANSWERED): "<pid>:<n>", n the answers from local sources so
        # far. run reads it after its command and asks again only when it differs from the mark
        # its question was told: most commands get nothing local (#32). So the file need only
        # move off the last mark told: it is brought up to date when a question is answered,
        # and rewritten by the first local answer after that, not by every one.
        self.tally = tally
        self._answered = 0
        self._written: str | None = None  # the tally file's mark
        self._told: str | None = None  # the mark the last question was told
        self._write_tally()

    # -- WSGI: counts and activity -----------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._lock:
            self._active += 1
            self._last = time.monotonic()
        path = str(environ.get("PATH_INFO") or "")
        kind = (
            "page" if "/simple/" in path else "metadata" if path.endswith(".metadata") else "file"
        )

        def counting(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            for name, value in headers:
                if name.lower() == "x-pipff-source" and status.startswith("200"):
                    key = f"{kind}:{value.split(';', 1)[0].strip()}"
                    with self._lock:
                        self.counts[key] = self.counts.get(key, 0) + 1
                        self._answered += 1
                        if self._written == self._told:
                            self._write_tally()
            return start_response(status, headers, *exc)

        try:
            body = self.app(environ, counting)
        except BaseException:
            self._done()
            raise
        return _Tracked(body, self._done)

    def _mark(self) -> str:
        return f"{os.getpid()}:{self._answered}"

    def _write_tally(self) -> None:
        """(Under the lock.) A tally that can't be written is removed: run then asks, where an
        old one would make it miss this answer."""
        if self.tally is None:
            return
        mark = self._mark()
        try:
            state.write_private(self.tally, mark + "\n")
        except OSError:
            logger.warning("pip-ff serve: can't write %s; run will ask", self.tally)
            self._written = None
            with contextlib.suppress(OSError):
                os.unlink(self.tally)
        else:
            self._written = mark

    def _done(self) -> None:
        with self._lock:
            self._active -= 1
            self._last = time.monotonic()

    # -- the proof route (ServeApp hands it the segments after ``-pipff``) --------------------

    def route(self, segments: list[str], host: str = "") -> Reply:
        """``segments``: the path after ``-pipff``; ``host``: the request's Host (ServeApp has
        checked that it names this serve's own address)."""
        wanted = {"proof": 2, "state": 3, "ask": 3}.get(segments[0] if segments else "")
        if wanted is None or len(segments) != wanted or not 16 <= len(segments[1]) <= 128:
            return text(404, "pip-ff serve: not found\n")
        if segments[0] == "proof":
            # Asked without the token (an older run's first step): the proof alone.
            reply = text(200, f"proof {proving.proof(self.key, segments[1], '')}\n")
            reply.headers.append(("Cache-Control", "no-store"))
            return reply
        if segments[0] == "ask":
            mine = proving.fresh(segments[1], time.time()) and hmac.compare_digest(
                segments[2], proving.question(self.key, segments[1], host)
            )
        else:
            mine = hmac.compare_digest(segments[2], proving.asker(self.key, segments[1]))
        if not (self.key and mine):
            return text(404, "pip-ff serve: not found\n")  # not this user's question
        with self._lock:
            counts = dict(self.counts)
            mark = self._mark()
            if self.tally is not None:
                if self._written != mark:
                    self._write_tally()
                self._told = mark
        fields: dict[str, object] = {
            "pid": os.getpid(),
            "version": __version__,
            "fingerprint": self.fingerprint,
        }
        if self.tally is not None:
            fields["answered"] = mark
        fields.update({f"count.{k}": n for k, n in sorted(counts.items())})
        fields.update({f"down.{name}": cause for name, cause in sorted(self.down().items())})
        fields.update({f"word.{source}": words for source, words in WORDS.items()})
        said = state.encode(fields)
        reply = text(200, f"proof {proving.proof(self.key, segments[1], said)}\n{said}")
        reply.headers.append(("Cache-Control", "no-store"))
        return reply

    # -- idle ----------------------------------------------------------------------------------

    def watch(self) -> None:
        """Interrupt the main thread (serve's loop) once idle for ``idle`` seconds (0: never)."""
        if self.idle <= 0:
            return

        def loop() -> None:
            while True:
                with self._lock:
                    quiet = time.monotonic() - self._last if self._active == 0 else 0.0
                if quiet >= self.idle and (self.held() or not self.stopping()):
                    with self._lock:
                        self._last = time.monotonic()
                    quiet = 0.0
                if quiet >= self.idle:
                    logger.info("pip-ff serve: idle for %.0f s; stopping", quiet)
                    _thread.interrupt_main()  # serve's loop wakes at least once a second
                    return
                time.sleep(min(max(self.idle - quiet, 0.05), 5.0))

        threading.Thread(target=loop, name="pip-ff-serve-idle", daemon=True).start()


class _Tracked:
    """A response body that says when it is done (waitress closes it, WSGI's rule)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if self._done is not None:
                self._done()
                self._done = None
