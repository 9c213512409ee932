"""pip-sync (pip-tools 7) with pip-ff, into an environment that has no pip-ff::

    export PIPFF=1
    python -m pip_offline_fallback.pipsync --python-executable .venv/bin/python requirements.txt

pip-sync has no plugin mechanism. It installs and uninstalls by running
``<python-executable> -m pip ...``, the *target's* pip, where pip-ff is not installed (and where
pip-sync would remove it unless the requirements list it). This runs pip-sync's own command line
in this process (pip-ff is installed next to pip-tools) with one change: each of those commands
runs as ``<this python> -m pip --python <target> ...`` instead. pip-ff follows pip's ``--python``
into the target (see :mod:`.reach`), so with ``PIPFF`` on the installs run with the fallback and
the target needs nothing of pip-ff. pip-sync's view of what is installed in the target is its
own; a command whose interpreter is this one is left as it is.

pip-sync also refuses a target whose pip is outside its own pip requirement (pip-tools 7.7 wants
26.2.2+, and a fresh ``python -m venv`` has the pip its Python bundles). The target's pip never
runs here, this process's pip does, so that check is asked of this pip's version instead.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
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


def _version_holders() -> list[ModuleType]:
    """The modules whose ``get_pip_version_for_python_executable`` pip-sync's check calls:
    piptools.scripts.sync's own import of it (pip-tools 7.0 to 7.5), and piptools' internal pip
    API module (7.6 and later)."""
    import importlib

    holders = []
    for name in ("piptools.scripts.sync", "piptools._internal._pip_api"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "get_pip_version_for_python_executable"):
            holders.append(module)
    return holders


def main(argv: list[str] | None = None) -> Any:
    from piptools import sync  # pip-tools 7: `from subprocess import run` in piptools/sync.py
    from piptools.scripts.sync import cli

    original_run = sync.run

    def run(args: list[str], *rest: Any, **kwargs: Any) -> Any:
        return original_run(redirect(list(args)), *rest, **kwargs)

    holders = _version_holders()
    name = "get_pip_version_for_python_executable"
    originals = [getattr(module, name) for module in holders]

    def pip_version_for(python: str) -> Any:
        # Every pip command of this sync runs with this interpreter's pip (see redirect).
        return originals[0](sys.executable)

    sync.run = run
    for module in holders:
        setattr(module, name, pip_version_for)
    try:
        return cli.main(args=sys.argv[1:] if argv is None else argv, prog_name="pip-sync")
    finally:
        sync.run = original_run
        for module, original in zip(holders, originals):
            setattr(module, name, original)


if __name__ == "__main__":
    main()
