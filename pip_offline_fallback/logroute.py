"""pip-ff's own lines go to stderr: stdout stays exactly what pip prints.

pip sends its information to stdout, and a script reads it there (``pip list --format json``,
``pip index versions --json``, ``pip freeze``). pip-ff's lines (the summary, the ``-v`` lines) are
information too, but not the command's output: they take pip's stderr instead, at pip's
verbosity, in pip's format, and still reach pip's ``--log`` file. Warnings and errors already go
to stderr through pip's own handler.

pip builds its handlers anew for each command (its ``setup_logging``, a dictConfig that names
them): :class:`Route`, on pip-ff's logger, finds them at each line, keeps pip-ff's records off
the stdout one, and writes them through the stderr one that pip keeps for its subprocesses'
output at the command's verbosity. Where pip's logging isn't set up (a program that drives pip's
internals itself), nothing changes.
"""

from __future__ import annotations

import logging

PACKAGE_LOGGER = "pip_offline_fallback"
# Names from pip's setup_logging (the same from pip 23.0 to 26.x).
_PIP_STDOUT = "console"
_PIP_STDERR_AT_VERBOSITY = "console_subprocess"


class _NotOurs(logging.Filter):
    """On pip's stdout handler: every record but pip-ff's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == PACKAGE_LOGGER or record.name.startswith(PACKAGE_LOGGER + "."))


class Route(logging.Handler):
    """pip-ff's information lines: pip's stderr instead of its stdout."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            return  # pip's stderr handler has these already
        handlers = {h.get_name(): h for h in logging.getLogger().handlers}
        stdout = handlers.get(_PIP_STDOUT)
        stderr = handlers.get(_PIP_STDERR_AT_VERBOSITY)
        if stdout is None or stderr is None:
            return  # not pip's logging: left as it is
        if not any(isinstance(f, _NotOurs) for f in stdout.filters):
            stdout.addFilter(_NotOurs())  # before the record reaches it (the root's handlers)
        if record.levelno >= stderr.level:
            # Straight to emit: that handler's filter lets only pip's subprocess lines through.
            stderr.acquire()
            try:
                stderr.emit(record)
            finally:
                stderr.release()


def attach() -> None:
    ours = logging.getLogger(PACKAGE_LOGGER)
    if not any(isinstance(h, Route) for h in ours.handlers):
        ours.addHandler(Route())


def detach() -> None:
    ours = logging.getLogger(PACKAGE_LOGGER)
    for handler in [h for h in ours.handlers if isinstance(h, Route)]:
        ours.removeHandler(handler)
