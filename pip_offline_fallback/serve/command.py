"""``pip-ff serve``: the command line, and the server it starts.

    pip-ff serve [--port N] [--host ADDR] [--require-token] [--idle-timeout S] [-v] [-i URL]
                 [pip options...]
    pip-ff serve status | stop          this user's per-user serve (the one ``pip-ff run`` uses)

``pip-ff run`` is run.py; it starts this command detached with ``--state-dir`` (the per-user
serve: daemon.py finds, starts, proves and stops it, control.py is its side of that). Such a
serve listens first and imports waitress and pip after, so a client's first request waits in
the listen queue rather than being refused.

pip's own options (``-i``, ``--cert``, ``--proxy``, ``--trusted-host``, ``--cache-dir``,
``--timeout``, ...) are handed to pip's parser, which also reads pip's configuration files and
``PIP_*`` variables: serve asks the index exactly as ``pip-ff install`` would.

Identity. Any local user can connect to 127.0.0.1. When the index is asked with credentials
(in the index URL, or netrc's for its host) or ``--require-token`` is given, every URL carries a
random token as its first path segment, and a request without it gets 403: another user can't
reach the private packages. ``pip-ff serve`` keeps its token in ``<record>/serve-token`` (mode
0600, readable by its owner only), so the URL (and lock files naming it) stays the same across
restarts; the per-user serve keeps it there too.

Built on waitress (pure Python, no dependencies, devpi's choice); only this module imports it,
never the start-up hook or pip-ff's install path.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from pip_offline_fallback.config import Settings
from pip_offline_fallback.errors import UsageError
from pip_offline_fallback.serve import state

if TYPE_CHECKING:
    from pip_offline_fallback.serve.app import ServeApp
    from pip_offline_fallback.serve.upstream import Upstream

logger = logging.getLogger(__name__)

# Fixed, so that lock files recording the index URL (uv.lock, poetry.lock) stay stable; devpi
# has 3141, apt-cacher-ng 3142.
DEFAULT_PORT = 3149
THREADS = 32  # uv opens dozens of connections at once
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
EXIT_USAGE = 2
EXIT_CANT_LISTEN = 3  # daemon.py then starts it on another port


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _parser(prog: str, *, serve: bool) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        usage=None if serve else "pip-ff run [options] [pip options] -- COMMAND [ARGS...]",
        description=(
            "A local package index (PEP 503/691) over pip-ff's record: online it passes "
            "requests on to the index and records them; when the index can't be reached it "
            "answers from local sources. 'pip-ff serve status' and 'pip-ff serve stop': "
            "the per-user serve that 'pip-ff run' starts."
            if serve
            else "Run COMMAND with pip, pipx, uv and pdm pointed at your per-user serve "
            "(started when none runs, left running for the next run; see docs/serve.md)."
        ),
        epilog="Other options are pip's (-i URL, --cert, --proxy, --trusted-host, --cache-dir).",
    )
    if serve:
        parser.add_argument(
            "--port", type=int, default=DEFAULT_PORT, help=f"(default {DEFAULT_PORT})"
        )
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="the address to listen on (default 127.0.0.1; any other is reachable by others)",
        )
        # The per-user serve, started by pip-ff run (daemon.py): where its state is kept.
        parser.add_argument("--state-dir", help=argparse.SUPPRESS)
        parser.add_argument("--fingerprint", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--require-token",
        action="store_true",
        help="put a secret token in the URL even when the index needs no credentials",
    )
    parser.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        help=f"stop after this long without a request (0: never; run's serve: "
        f"${state.IDLE_VARIABLE}, default {state.DEFAULT_IDLE:.0f}; serve's: never)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log one line per request")
    return parser


def _split(argv: Sequence[str], prog: str, *, serve: bool) -> tuple[argparse.Namespace, list[str]]:
    args, pip_args = _parser(prog, serve=serve).parse_known_args(list(argv))
    return args, pip_args


def set_up_logging(
    verbose: bool, *, stamped: bool = False, handler: logging.Handler | None = None
) -> None:
    """``handler``: where the lines go (the per-user serve's capped log); else stderr."""
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(stamped))
    root = logging.getLogger("pip_offline_fallback")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    logging.getLogger("pip_offline_fallback.serve.access").setLevel(
        logging.INFO if verbose else logging.WARNING
    )
    logging.getLogger("waitress").setLevel(logging.ERROR)


class _Formatter(logging.Formatter):
    def __init__(self, stamped: bool) -> None:
        super().__init__()
        self.stamped = stamped  # the per-user serve's log file: when each line was written

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname}: {message}"
        if self.stamped:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
            message = f"{when} {message}"
        return message


def _token(store_root: str | None) -> str:
    """serve's token, kept (0600) in the record so that its URL survives a restart."""
    if store_root is None:
        return secrets.token_urlsafe(24)
    path = os.path.join(store_root, "serve-token")
    with contextlib.suppress(OSError):
        with open(path, encoding="ascii") as f:
            token = f.read().strip()
        if len(token) >= 24 and token.replace("-", "").replace("_", "").isalnum():
            return token
    token = secrets.token_urlsafe(24)
    try:
        os.makedirs(store_root, exist_ok=True)
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token + "\n")
        os.replace(path + ".tmp", path)
    except OSError as exc:
        logger.warning(
            "pip-ff serve: can't keep the token in %s (%s); it changes on restart", path, exc
        )
    return token


def _hosts(host: str, port: int) -> list[str]:
    """The Host headers a request may carry: the address served, with its port."""
    names = {host, "localhost", "127.0.0.1", "[::1]"} if host in _LOOPBACK else {host}
    return [f"{f'[{n}]' if ':' in n and not n.startswith('[') else n}:{port}" for n in names]


Wrap = Callable[["ServeApp"], Any]


def start_serving(
    settings: Settings | None,
    pip_args: list[str],
    *,
    host: str,
    port: int,
    token: str,
    sock: socket.socket | None = None,
    wrap: Wrap | None = None,
    agent_file: str | None = None,
) -> tuple[Any, Upstream, str, ServeApp]:
    """The server, bound but not yet running, its upstream, the index URL it serves and its
    application. ``sock``: a socket already listening; ``wrap``: around the application;
    ``agent_file``: where pip's User-Agent is kept between starts (see Upstream).

    ``token``: "auto" (a token only when the index is asked with credentials), "always" (kept
    in the record)."""
    if settings is None:
        raise UsageError("serve needs pip-ff's fallback (PIPFF=0 or --no-fallback was given)")
    try:
        import waitress  # type: ignore[import-untyped,unused-ignore]  # no stubs in the lint env
    except ImportError:  # pip-ff itself installed with --no-deps (on a plane, say)
        raise UsageError(
            "serve needs waitress, which is not installed here (pip-ff install waitress)"
        ) from None

    from pip_offline_fallback.serve.app import ServeApp
    from pip_offline_fallback.serve.upstream import Upstream, UpstreamError
    from pip_offline_fallback.urls import without_credentials

    try:
        upstream = Upstream(settings, pip_args, agent_file=agent_file)
    except UpstreamError as exc:
        raise UsageError(str(exc)) from None
    except SystemExit:  # pip's parser on an unknown option
        # Each option as the user gave it, less any credentials in a URL: this line reaches
        # serve.log and, through pip-ff run, the caller's terminal or CI log.
        shown = " ".join(without_credentials(arg) for arg in pip_args)
        raise UsageError(f"pip can't parse these options: {shown}") from None
    if upstream.extra_index_urls:
        # One index per namespace: merged indexes are how dependency confusion happens.
        logger.warning(
            "pip-ff serve: serving %s only; pip's extra index URLs are not merged in",
            upstream.public_index,
        )
    store = upstream.engine.store
    secret: str | None = None
    if token != "auto" or upstream.needs_credentials:
        secret = _token(store.root if store is not None else None)
    app = ServeApp(upstream, hosts=[], token=secret)
    served = wrap(app) if wrap is not None else app
    where: dict[str, Any] = (
        {"sockets": [sock]} if sock is not None else {"host": host, "port": port}
    )
    try:
        server: Any = waitress.create_server(
            served, threads=THREADS, connection_limit=200, ident="pip-ff", **where
        )
    except OSError as exc:
        raise UsageError(f"can't listen on {host}:{port} ({exc.strerror}); choose --port") from None
    bound = int(server.effective_port)
    app.hosts = {h.lower() for h in _hosts(host, bound)}
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}{app.prefix}/simple/"
    return server, upstream, url, app


def serve_main(argv: Sequence[str], settings: Settings | None) -> int:
    if any(a in ("-h", "--help") for a in argv):
        with contextlib.suppress(SystemExit):
            _parser("pip-ff serve", serve=True).parse_args(["--help"])
        return 0
    if list(argv) in (["status"], ["stop"]):
        return _per_user(argv[0])
    try:
        args, pip_args = _split(argv, "pip-ff serve", serve=True)
        idle = state.idle_timeout(
            args.idle_timeout, os.environ if args.state_dir else {state.IDLE_VARIABLE: "0"}
        )
    except (UsageError, ValueError) as exc:
        sys.stderr.write(f"ERROR: pip-ff: {exc}\n")
        return EXIT_USAGE
    if args.state_dir:
        from pip_offline_fallback.serve.peruser import serve_per_user

        return serve_per_user(args, pip_args, settings, idle)
    try:
        set_up_logging(args.verbose)
        if args.host not in _LOOPBACK:
            logger.warning(
                "pip-ff serve: listening on %s: anyone who can reach this address can read "
                "what the index and pip-ff's record hold",
                args.host,
            )
        server, upstream, url, _ = start_serving(
            settings,
            pip_args,
            host=args.host,
            port=args.port,
            token="always" if args.require_token else "auto",
            wrap=_idle_wrap(idle),
        )
    except UsageError as exc:
        sys.stderr.write(f"ERROR: pip-ff: {exc}\n")
        return EXIT_USAGE
    sys.stdout.write(f"pip-ff serve: index URL {url} (upstream {upstream.public_index})\n")
    sys.stdout.flush()
    try:
        run_server(server)
    finally:
        with contextlib.suppress(Exception):
            upstream.close()
    return 0


def _idle_wrap(idle: float) -> Wrap | None:
    """A hand-started serve with --idle-timeout: only the idle timer of the per-user one."""
    if idle <= 0:
        return None

    def wrap(app: ServeApp) -> Any:
        from pip_offline_fallback.serve.control import Control

        control = Control(app, key=b"", fingerprint="", idle=idle, down=dict)
        control.watch()
        return control

    return wrap


def run_server(server: Any) -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()  # waitress closes itself on KeyboardInterrupt
    except KeyboardInterrupt:
        server.close()
    sys.stderr.write("pip-ff serve: stopped\n")


def _per_user(what: str) -> int:
    from pip_offline_fallback.serve import daemon

    if what == "stop":
        sys.stdout.write(daemon.stop(os.environ) + "\n")
        return 0
    running, line = daemon.status(os.environ)
    sys.stdout.write(line + "\n")
    return 0 if running else 1


def run_main(argv: Sequence[str], settings: Settings | None) -> int:
    """``pip-ff help run`` (cli.py hands a real run to run.py before it gets here)."""
    if "--" not in argv and any(a in ("-h", "--help") for a in argv):
        with contextlib.suppress(SystemExit):
            _parser("pip-ff run", serve=False).parse_args(["--help"])
        return 0
    from pip_offline_fallback.serve import run

    return run.main(["run", *argv], 0)
