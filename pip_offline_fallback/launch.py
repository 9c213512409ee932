"""pip-ff's entry point (``pip-ff``, ``python -m pip_offline_fallback``): ``run`` goes straight
to serve/run.py, a bare ``--version`` is answered here, everything else goes to cli.py.

With its serve up, ``pip-ff run -- CMD`` must cost next to nothing over CMD: cli.py's imports
(dataclasses, logging, re, the settings) alone cost more than the rest of a run, so this module
imports only ``sys`` before it knows which it is.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

# pip-ff's own options that take a value (cli.py's parser takes them out of pip's arguments).
VALUE_FLAGS = (
    "--wheelhouse",
    "--connect-timeout",
    "--fallback-report",
    "--max-stale",
    "--fallback-index-url",
)


def _per_user_arguments() -> list[str]:
    import json
    import os

    from pip_offline_fallback.serve.daemon import ARGV_VARIABLE

    args = json.loads(os.environ.get(ARGV_VARIABLE) or "[]")
    return [str(a) for a in args] if isinstance(args, list) else []


def run_position(argv: Sequence[str]) -> int | None:
    """Where ``run`` stands in ``argv`` when it is the command (after pip-ff's own options)."""
    for i, arg in enumerate(argv):
        if arg == "--" or (not arg.startswith("-") and (i == 0 or argv[i - 1] not in VALUE_FLAGS)):
            return i if arg == "run" else None
    return None


def _leave(code: int) -> NoReturn:
    """End ``pip-ff run`` now that it has said all it had to: the interpreter's teardown (every
    module and object freed, one by one) is a few milliseconds of work for nothing. Nothing of
    run's waits for it: no atexit handler, no logging, its own output flushed here."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib: an import for nothing here)
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def version() -> int:
    """pip's version line first and unchanged (scripts read pip's version from the first line),
    then pip-ff's. Nothing is hooked: a version string needs none of pip-ff's machinery, so this
    costs what ``pip --version`` costs (here, not in cli.py, whose imports and settings a bare
    ``pip-ff --version`` doesn't need: cli.py calls it for ``--version`` among pip-ff's options)."""
    import os

    from pip_offline_fallback import __version__
    from pip_offline_fallback.compat.entry import pip_main

    try:
        status = pip_main()(["--version"])
    except SystemExit as exc:  # pip's option parser exits after printing the version
        if exc.code not in (None, 0):
            raise
        status = 0
    try:
        sys.stdout.write(f"pip-ff {__version__}\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader wanted pip's line only (``| head -1``): as with plain pip, no traceback
        # and no error. stdout is pointed at devnull so that the flush at exit fails no more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return int(status or 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        return version()
    if args == ["--per-user-serve"]:  # started by serve/daemon.py, its arguments out of sight
        args = _per_user_arguments()
    at = run_position(args)
    if at is not None:
        from pip_offline_fallback.serve import run

        code = run.main(args, at)
        if argv is None:
            _leave(code)
        return code
    from pip_offline_fallback import cli

    return cli.main(args)
