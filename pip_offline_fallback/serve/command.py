"""``pip-ff serve`` and ``pip-ff run -- COMMAND``: the command lines, the server's life cycle.

    pip-ff serve [--port N] [--host ADDR] [--require-token] [-v] [-i URL] [pip options...]
    pip-ff run [--require-token] [-v] [-i URL] [pip options...] -- COMMAND [ARGS...]

pip's own options (``-i``, ``--cert``, ``--proxy``, ``--trusted-host``, ``--cache-dir``,
``--timeout``, ...) are handed to pip's parser, which also reads pip's configuration files and
``PIP_*`` variables: serve asks the index exactly as ``pip-ff install`` would.

Identity. Any local user can connect to 127.0.0.1. When the index is asked with credentials
(in the index URL, or netrc's for its host) or ``--require-token`` is given, every URL carries a
random token as its first path segment, and a request without it gets 403: another user can't
reach the private packages. ``pip-ff serve`` keeps its token in ``<record>/serve-token`` (mode
0600, readable by its owner only), so the URL (and lock files naming it) stays the same across
restarts; ``pip-ff run`` makes a new one each time and passes it on in the child's environment.

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
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from pip_offline_fallback.config import Settings
from pip_offline_fallback.errors import UsageError
from pip_offline_fallback.serve.childindex import child_environment
from pip_offline_fallback.serve.upstream import Upstream, UpstreamError

logger = logging.getLogger(__name__)

# Fixed, so that lock files recording the index URL (uv.lock, poetry.lock) stay stable; devpi
# has 3141, apt-cacher-ng 3142.
DEFAULT_PORT = 3149
THREADS = 32  # uv opens dozens of connections at once
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
EXIT_USAGE = 2
EXIT_NOT_FOUND = 127


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: {message}")


def _parser(prog: str, *, serve: bool) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description=(
            "A local package index (PEP 503/691) over pip-ff's record: online it passes "
            "requests on to the index and records them; when the index can't be reached it "
            "answers from local sources."
            if serve
            else "Run COMMAND with a pip-ff serve on a free loopback port, and pip, pipx, uv "
            "and pdm pointed at it."
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
    parser.add_argument(
        "--require-token",
        action="store_true",
        help="put a secret token in the URL even when the index needs no credentials",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log one line per request")
    return parser


def _split(argv: Sequence[str], prog: str, *, serve: bool) -> tuple[argparse.Namespace, list[str]]:
    args, pip_args = _parser(prog, serve=serve).parse_known_args(list(argv))
    return args, pip_args


def _logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("pip_offline_fallback")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    logging.getLogger("pip_offline_fallback.serve.access").setLevel(
        logging.INFO if verbose else logging.WARNING
    )
    logging.getLogger("waitress").setLevel(logging.ERROR)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"{record.levelname}: {message}"
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


def _start(
    settings: Settings | None, pip_args: list[str], *, host: str, port: int, token: str
) -> tuple[Any, Upstream, str]:
    """The server, bound but not yet running, its upstream, and the index URL it serves.

    ``token``: "auto" (a token only when the index is asked with credentials), "always" (kept
    in the record), "fresh" (always, a new one: ``pip-ff run``)."""
    if settings is None:
        raise UsageError("serve needs pip-ff's fallback (PIPFF=0 or --no-fallback was given)")
    try:
        import waitress  # type: ignore[import-untyped,unused-ignore]  # no stubs in the lint env
    except ImportError:  # pip-ff itself installed with --no-deps (on a plane, say)
        raise UsageError(
            "serve needs waitress, which is not installed here (pip-ff install waitress)"
        ) from None

    from pip_offline_fallback.serve.app import ServeApp

    try:
        upstream = Upstream(settings, pip_args)
    except UpstreamError as exc:
        raise UsageError(str(exc)) from None
    except SystemExit:  # pip's parser on an unknown option
        raise UsageError(f"pip can't parse these options: {' '.join(pip_args)}") from None
    if upstream.extra_index_urls:
        # One index per namespace: merged indexes are how dependency confusion happens.
        logger.warning(
            "pip-ff serve: serving %s only; pip's extra index URLs are not merged in",
            upstream.public_index,
        )
    store = upstream.engine.store
    secret: str | None = None
    if token != "auto" or upstream.needs_credentials:
        secret = _token(store.root if store is not None and token != "fresh" else None)
    app = ServeApp(upstream, hosts=[], token=secret)
    try:
        server: Any = waitress.create_server(
            app, host=host, port=port, threads=THREADS, connection_limit=200, ident="pip-ff"
        )
    except OSError as exc:
        raise UsageError(f"can't listen on {host}:{port} ({exc.strerror}); choose --port") from None
    bound = int(server.effective_port)
    app.hosts = {h.lower() for h in _hosts(host, bound)}
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}{app.prefix}/simple/"
    return server, upstream, url


def serve_main(argv: Sequence[str], settings: Settings | None) -> int:
    if any(a in ("-h", "--help") for a in argv):
        with contextlib.suppress(SystemExit):
            _parser("pip-ff serve", serve=True).parse_args(["--help"])
        return 0
    try:
        args, pip_args = _split(argv, "pip-ff serve", serve=True)
        _logging(args.verbose)
        if args.host not in _LOOPBACK:
            logger.warning(
                "pip-ff serve: listening on %s: anyone who can reach this address can read "
                "what the index and pip-ff's record hold",
                args.host,
            )
        server, upstream, url = _start(
            settings,
            pip_args,
            host=args.host,
            port=args.port,
            token="always" if args.require_token else "auto",
        )
    except UsageError as exc:
        sys.stderr.write(f"ERROR: pip-ff: {exc}\n")
        return EXIT_USAGE
    sys.stdout.write(f"pip-ff serve: index URL {url} (upstream {upstream.public_index})\n")
    sys.stdout.flush()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()  # waitress closes itself on KeyboardInterrupt
    except KeyboardInterrupt:
        server.close()
    sys.stderr.write("pip-ff serve: stopped\n")
    return 0


def run_main(argv: Sequence[str], settings: Settings | None) -> int:
    argv = list(argv)
    if "--" not in argv and any(a in ("-h", "--help") for a in argv):
        with contextlib.suppress(SystemExit):
            _parser("pip-ff run", serve=False).parse_args(["--help"])
        return 0
    if "--" not in argv:
        sys.stderr.write("ERROR: pip-ff: run needs -- before the command: pip-ff run -- CMD ...\n")
        return EXIT_USAGE
    split = argv.index("--")
    command = argv[split + 1 :]
    if not command:
        sys.stderr.write("ERROR: pip-ff: run needs a command after --\n")
        return EXIT_USAGE
    try:
        args, pip_args = _split(argv[:split], "pip-ff run", serve=False)
        _logging(args.verbose)
        server, upstream, url = _start(settings, pip_args, host="127.0.0.1", port=0, token="fresh")
    except UsageError as exc:
        sys.stderr.write(f"ERROR: pip-ff: {exc}\n")
        return EXIT_USAGE
    thread = threading.Thread(target=server.run, name="pip-ff-serve", daemon=True)
    thread.start()
    logger.debug("pip-ff run: index URL %s", url)
    try:
        status = _child(command, child_environment(os.environ, url))
    finally:
        with contextlib.suppress(Exception):
            server.task_dispatcher.shutdown(timeout=5)
    try:
        upstream.engine.share_recorded()
        upstream.engine.report.finish(status)
    except Exception as exc:
        logger.warning("pip-ff: report failed: %r", exc)
    return status


def _child(command: list[str], env: dict[str, str]) -> int:
    """Run the command; its exit status (a signal's: 128 + its number, as a shell says)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child gets Ctrl-C itself
    try:
        try:
            process = subprocess.Popen(command, env=env)
        except OSError as exc:
            sys.stderr.write(f"ERROR: pip-ff: can't run {command[0]}: {exc.strerror}\n")
            return EXIT_NOT_FOUND
        returncode = process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - returncode if returncode < 0 else returncode
