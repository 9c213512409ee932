"""pip-ff: a drop-in pip that finishes the command from local sources when the index is unreachable.

This module stays import-light on purpose: the start-up hook and ``pip-ff --version`` import it.
No ``from __future__ import annotations`` here or in :mod:`.startup`: that statement imports the
``__future__`` module at run time, and start-up must import nothing but ours.
"""

import os
import sys

__version__ = "0.1.0"
__all__ = ["__version__", "start_hook"]

_OFF = ("0", "false", "no", "off")
# pip-ff's own floor (pyproject's requires-python); pip --python may carry it into an older one.
_OLDEST_PYTHON = (3, 9)
_warned = False


def start_hook() -> None:
    """Interpreter start-up: the ``.pth`` line calls this when ``PIPFF`` is set, and on Python
    3.15+ (PEP 829) the ``.start`` entry point calls it at every start.

    So it must cost next to nothing: a look at ``PIPFF`` with ``os`` (imported by site.py
    before any ``.pth`` runs), and only for a value that switches pip-ff on does it import the
    start-up module. Never raises: a start-up module that can't be loaded (a broken install)
    gets one line on stderr (there is no logging this early), then Python starts without pip-ff.
    """
    global _warned
    value = os.environ.get("PIPFF", "").strip().lower()
    if not value or value in _OFF:
        return
    if sys.version_info[:2] < _OLDEST_PYTHON:
        # pip --python carries pip-ff into any target; an older one would fail on pip-ff's
        # syntax with an error that names neither the cause nor the remedy.
        if not _warned:
            _warned = True
            sys.stderr.write(
                f"WARNING: pip-ff can't run under {sys.executable}: its Python is "
                f"{sys.version_info[0]}.{sys.version_info[1]}, older than 3.9, which pip-ff "
                "needs; running plain pip without fallback\n"
            )
        return
    try:
        from pip_offline_fallback import startup
    except Exception as exc:
        if not _warned:  # site.py processes a venv's .pth files twice
            _warned = True
            sys.stderr.write(
                f"WARNING: pip-ff can't be loaded ({type(exc).__name__}: {exc}); "
                "running plain pip without fallback\n"
            )
        return
    startup.activate()
