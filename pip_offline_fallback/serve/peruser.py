"""The per-user serve's process (``pip-ff serve --state-dir``, started by daemon.py).

It listens before it imports anything heavy: a client's first request waits in the listen queue
while waitress and pip are imported, rather than being refused. So this module imports no pip
(control.py, which does, comes after the socket listens).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import os
import socket
import sys
import time
from typing import TYPE_CHECKING

from pip_offline_fallback.errors import UsageError
from pip_offline_fallback.serve import command, daemon, state
from pip_offline_fallback.serve.idlestop import IdleStop

if TYPE_CHECKING:
    from io import TextIOWrapper

    from pip_offline_fallback.config import Settings
    from pip_offline_fallback.serve.app import ServeApp
    from pip_offline_fallback.serve.control import Control

logger = logging.getLogger(__name__)


def serve_per_user(
    args: argparse.Namespace, pip_args: list[str], settings: Settings | None, idle: float
) -> int:
    """The per-user serve, started detached by ``pip-ff run``: listen first (a client waits in
    the listen queue while waitress and pip are imported), then say where it is in
    its state file once it answers, and end when idle."""
    where = str(args.state_dir)
    try:
        sock = socket.create_server(("127.0.0.1", args.port), backlog=1024)
    except OSError as exc:
        sys.stderr.write(f"ERROR: pip-ff serve: can't listen on port {args.port}: {exc}\n")
        return command.EXIT_CANT_LISTEN
    log = os.path.join(where, "serve.log")
    command.set_up_logging(args.verbose, stamped=True, handler=CappedLog(log, daemon.LOG_LIMIT))
    key = state.secret(where)
    holder: dict[str, Control] = {}
    stop = IdleStop(where)

    def wrap(app: ServeApp) -> Control:
        from pip_offline_fallback import compat
        from pip_offline_fallback.serve.control import Control

        upstream = app.upstream

        def down() -> dict[str, str]:
            hosts = upstream.engine.routes_down()
            return {compat.redact(h): str(c) for h, c in hosts.items()}

        control = Control(
            app,
            key=key,
            fingerprint=args.fingerprint,
            idle=idle,
            down=down,
            held=lambda: state.held(where),
            stopping=stop.agree,
            tally=os.path.join(where, state.ANSWERED),
        )
        app.control = control.route
        holder["control"] = control
        return control

    try:
        server, upstream, url, app = command.start_serving(
            settings,
            pip_args,
            host="127.0.0.1",
            port=args.port,
            token="always" if args.require_token else "auto",
            sock=sock,
            wrap=wrap,
            agent_file=os.path.join(where, state.USER_AGENT),
        )
    except UsageError as exc:
        sys.stderr.write(f"ERROR: pip-ff: {exc}\n")
        return command.EXIT_USAGE
    port = int(server.effective_port)
    stop.fields = {
        "pid": os.getpid(),
        "port": port,
        "prefix": app.prefix,
        "fingerprint": args.fingerprint,
        "started": int(time.time()),
    }
    state.write_state(where, stop.fields)
    logger.info(
        "pip-ff serve: index URL %s (upstream %s); idle timeout %s",
        url.replace(app.prefix, "/<token>") if app.prefix else url,
        upstream.public_index,
        f"{idle:.0f} s" if idle > 0 else "none",
    )
    holder["control"].watch()
    try:
        command.run_server(server)
    finally:
        stop.release()  # no longer listening: a run may start the next serve
        state.forget(where, os.getpid())
        with contextlib.suppress(Exception):
            upstream.engine.share_recorded()
        with contextlib.suppress(Exception):
            upstream.close()
    return 0


class CappedLog(logging.handlers.RotatingFileHandler):
    """serve.log, capped while the serve runs (with ``-v`` a line per request, for days): past
    ``limit`` bytes it becomes serve.log.1 (the one before is dropped) and a new one starts.
    ``follow``: the file descriptors that follow it to the new file (stdout and stderr, which
    daemon.py opened on serve.log: a traceback lands in the new file, not the kept one)."""

    def __init__(self, path: str, limit: int, follow: tuple[int, ...] = (1, 2)) -> None:
        self.follow = follow
        super().__init__(path, maxBytes=limit, backupCount=1, encoding="utf-8", delay=False)

    def _open(self) -> TextIOWrapper:
        # Readable by this user only, as daemon.py made the first one (a log names projects).
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors="backslashreplace")

    def doRollover(self) -> None:
        super().doRollover()
        if self.stream is not None:
            for fd in self.follow:
                with contextlib.suppress(OSError):
                    os.dup2(self.stream.fileno(), fd)
