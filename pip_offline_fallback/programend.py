"""The end of a program that drives pip's resolver itself, without a pip command (pip-compile):
the summary a command's end would print, printed when the program ends (inject.py's session
hook asks for it when such a program builds pip's session)."""

from __future__ import annotations

import atexit
import logging
import sys

from pip_offline_fallback import logroute
from pip_offline_fallback.running import active_engine

logger = logging.getLogger(__name__)

_finish_at_exit = False


def finish_when_the_program_ends() -> None:
    """Print the summary when the program ends (once, however many sessions it builds)."""
    global _finish_at_exit
    if not _finish_at_exit:
        _finish_at_exit = True
        atexit.register(_finish_program)  # after logging's own: runs before logging shuts down


def _finish_program() -> None:
    """The end of a program that drove pip's resolver without a pip command (pip-compile): the
    summary a command's end would print. Its exit status is out of reach here: what the report
    missed (no local copy, too old) says whether the run fell short."""
    engine = active_engine()
    if engine is None or engine.commands_running:
        return
    report = engine.report
    status = 1 if report.missing or report.too_old else 0
    ours = logging.getLogger("pip_offline_fallback")
    saved = ours.level, ours.propagate
    handler: logging.Handler | None = None
    if _lowest_level_shown(ours) <= logging.WARNING:
        # pip-ff's warnings show, so the summary shows too, though it is information: the
        # program set pip's logging a step quieter than pip's own (pip-compile does), or left
        # it to Python's last resort, which shows warnings only.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)
        ours.propagate = False
    try:
        engine.share_recorded()
        report.finish(status)
    except Exception as exc:
        logger.warning("pip-ff: report failed: %r", exc)
    finally:
        if handler is not None:
            ours.removeHandler(handler)
            ours.setLevel(saved[0])
            ours.propagate = saved[1]


def _lowest_level_shown(start: logging.Logger) -> int:
    """The lowest level any handler on ``start``'s way up prints (with none: Python's last
    resort, which prints warnings)."""
    levels: list[int] = []
    current: logging.Logger | None = start
    while current is not None:
        levels += [h.level for h in current.handlers if not isinstance(h, logroute.Route)]
        if not current.propagate:
            break
        current = current.parent
    return min(levels) if levels else logging.WARNING
