"""pip-sync (pip-tools 7) with pip-ff, into an environment that has no pip-ff::

    export PIPFF=1
    python -m pip_offline_fallback.pipsync --python-executable .venv/bin/python requirements.txt

pip-sync has no plugin mechanism. It installs and uninstalls by running
``<python-executable> -m pip ...``, the *target's* pip, where pip-ff is not installed (and where
pip-sync would remove it unless the requirements list it). This runs pip-sync's own command line
in this process (pip-ff is installed next to pip-tools) with one change: each of those commands
runs as ``<this python> -m pip --python <target> ...`` instead. pip-ff follows pip's ``--python``
into the target (see :mod:`.reach`), so with ``PIPFF`` on the installs run with the fallback and
the target needs nothing of pip-ff. pip-sync's view of the target (what is installed there, its
pip's version) is pip-sync's own; a command whose interpreter is this one is left as it is.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _same(python: str) -> bool:
    # Not os.path.samefile: every venv's python is a link to the same base interpreter.
    def norm(path: str) -> str:
        return os.path.normcase(os.path.abspath(path))

    return norm(python) == norm(sys.executable)


def redirect(args: list[str]) -> list[str]:
    """``[target, "-m", "pip", *rest]`` as ``[this python, "-m", "pip", "--python", target, *rest]``
    (unchanged when ``target`` is this interpreter, or when it is not a ``-m pip`` command)."""
    if len(args) >= 3 and list(args[1:3]) == ["-m", "pip"] and not _same(str(args[0])):
        return [sys.executable, "-m", "pip", "--python", str(args[0]), *args[3:]]
    return list(args)


def main(argv: list[str] | None = None) -> Any:
    from piptools import sync  # pip-tools 7: `from subprocess import run` in piptools/sync.py
    from piptools.scripts.sync import cli

    original = sync.run

    def run(args: list[str], *rest: Any, **kwargs: Any) -> Any:
        return original(redirect(list(args)), *rest, **kwargs)

    sync.run = run
    try:
        return cli.main(args=sys.argv[1:] if argv is None else argv, prog_name="pip-sync")
    finally:
        sync.run = original


if __name__ == "__main__":
    main()
