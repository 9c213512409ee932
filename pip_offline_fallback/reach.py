"""Carry pip-ff into the interpreter pip re-runs itself under (``--python``), with or without
pip-ff installed there.

pip re-runs itself as ``[python, get_runnable_pip(), *args]``: its runner script loads the
*parent's* pip into the target interpreter, where pip-ff is not importable and no ``.pth`` of
the parent runs. pip-ff hands pip a bootstrap script instead: it sits in a private directory
holding a copy of pip-ff's package (no ``.dist-info``, so pip's view of the target environment
stays the target's; pip-ff needs nothing but Python 3.9+ and the parent's pip, which the
runner loads, so the copy runs on any target Python that both support), puts that directory
first on ``sys.path``, starts pip-ff's hook from the environment (``PIPFF`` and the
settings the parent exported), then runs pip's real runner. The child pip inherits the
environment, so it runs with the parent's mode, store and wheelhouses.

Every patch here is undone by :func:`uncarry`.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import shutil
import sys
import tempfile
from typing import Any, Callable

logger = logging.getLogger(__name__)

# What pip-ff imports that the target may lack: pip-ff itself. Its only dependency is pip (the
# parent's, loaded by pip's runner); a copy of a third-party package, chosen for the parent's
# Python, might not even parse on the target's (issue 23).
CARRIED = ("pip_offline_fallback",)

# Set by the bootstrap in the interpreter it carried pip-ff into: there, the pip processes that
# build isolation starts (the same interpreter, also without pip-ff's .pth) need carrying too.
carried = False

_patches: list[tuple[Any, str, Callable[[], str]]] = []
_bootstraps: dict[str, str] = {}

# Python 3.9 syntax (the target may be older than this interpreter). It must not import pip:
# pip's runner loads pip from the parent's installation, and an earlier `import pip` would get
# the target's own pip, if it has one.
_SCRIPT = """\
# Written by pip-ff for pip's --python: run pip's own runner with pip-ff loaded.
import os
import runpy
import sys

PRIVATE = os.path.dirname(os.path.abspath(__file__))
RUNNER = {runner!r}

# sys.path[0] as pip's runner would have had it (its own directory), pip-ff's copy before it.
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == PRIVATE:
    sys.path[0] = os.path.dirname(RUNNER)
sys.path.insert(0, PRIVATE)
if "pip_offline_fallback" not in sys.modules:  # else: the target's own pip-ff is active
    try:
        import pip_offline_fallback
        from pip_offline_fallback import reach

        reach.carried = True
        pip_offline_fallback.start_hook()
    except Exception as exc:
        sys.stderr.write(
            "WARNING: pip-ff can't be loaded under %s (%s: %s); running plain pip without "
            "fallback\\n" % (sys.executable, type(exc).__name__, exc)
        )
sys.argv[0] = RUNNER
runpy.run_path(RUNNER, run_name="__main__")
"""


def _copy_module(name: str, directory: str) -> None:
    module = importlib.import_module(name)
    source = getattr(module, "__file__", None)
    if not source:
        raise ImportError(f"{name} has no file to copy")
    if os.path.basename(source) == "__init__.py":
        # With its __pycache__: compiling pip-ff's modules again would cost the target ~70 ms
        # on each run, the copy ~15 ms. copytree keeps each source's mtime, which its .pyc
        # names, so a target of the same Python version loads them; another ignores them.
        shutil.copytree(os.path.dirname(source), os.path.join(directory, name))
    else:
        shutil.copy2(source, os.path.join(directory, os.path.basename(source)))


def bootstrap(runner: str) -> str:
    """The script pip runs instead of ``runner``; made once per process, removed at exit."""
    script = _bootstraps.get(runner)
    if script is not None and os.path.isfile(script):
        return script
    if not os.path.isfile(runner):
        from pip_offline_fallback import compat

        archive = compat.zipped_pip()
        if archive is not None:
            raise RuntimeError(f"pip is imported from {archive}, an archive, not a directory")
        raise RuntimeError(f"pip's runner {runner} is no file")
    directory = tempfile.mkdtemp(prefix="pip-ff-carry-")
    atexit.register(shutil.rmtree, directory, True)
    for name in CARRIED:
        _copy_module(name, directory)
    script = os.path.join(directory, "pip-ff-runner.py")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(_SCRIPT.format(runner=runner))
    _bootstraps[runner] = script
    logger.debug("pip-ff: pip re-runs itself through %s", script)
    return script


def _wrap(original: Callable[[], str]) -> Callable[[], str]:
    def get_runnable_pip() -> str:
        runner = original()
        if not _patches:  # a copy taken while carrying, called after uncarry(): pass through
            return runner
        try:
            return bootstrap(runner)
        except Exception as exc:
            logger.warning(
                "pip-ff: can't carry pip-ff into the interpreter pip runs (%s); pip runs "
                "there without the fallback",
                exc,
            )
            return runner

    get_runnable_pip._pipff_original = original  # type: ignore[attr-defined]
    return get_runnable_pip


def carry() -> None:
    """Make every copy of pip's ``get_runnable_pip`` hand out the bootstrap. Idempotent."""
    from pip_offline_fallback import childenv, compat

    for owner in compat.runnable_pip_owners(imported=True):
        original = getattr(owner, compat.RUNNABLE_PIP)
        if getattr(original, "_pipff_original", None) is not None:
            continue
        setattr(owner, compat.RUNNABLE_PIP, _wrap(original))
        _patches.append((owner, compat.RUNNABLE_PIP, original))
    # Only an engine already running: pip-ff's CLI carries without one (cli._follow), and
    # importing the engine would cost what that saves.
    engine_module = sys.modules.get("pip_offline_fallback.running")
    engine = engine_module.active_engine() if engine_module is not None else None
    if engine is not None and engine.settings.report:
        # pip-ff's CLI keeps the report from child processes (build isolation's pip); under
        # --python the child does the whole command, so the report is its to write.
        childenv.report_to_child(engine.settings.report)


def uncarry() -> None:
    while _patches:
        owner, name, original = _patches.pop()
        setattr(owner, name, original)
