"""Build glue only: every piece of metadata is in pyproject.toml.

The one thing declarative config can't do is put a file at the *root* of purelib, beside the
package, so build_py is extended to write the start-up hook files there.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

# The start-up hook, written as pip_offline_fallback.pth at the root of build_lib so the wheel
# installs it straight into site-packages.
#
# Why a .pth: it is the only thing an installed wheel can use to run code at every interpreter
# start-up (site.py processes each .pth in site-packages), which is how `PIPFF=1 pip install ...`
# reaches pip's own console script, `python -m pip`, and the pip subprocesses that build
# isolation starts, without wrapping any of them.
#
# Why this form: site.py exec()s a .pth line only if it starts with "import" (other lines are
# sys.path entries), and the whole line is one statement list. `os` is already imported by the
# time site.py runs, so when PIPFF is unset (every other Python start on the machine) the cost
# is a single dict lookup, and nothing of ours is imported. Only when PIPFF is set is the
# package's tiny __init__ imported and its start_hook() called, which imports the `startup`
# module only for a value that switches pip-ff on (and says so in one line if it can't).
PTH_LINE = 'import os; os.environ.get("PIPFF") and __import__("pip_offline_fallback").start_hook()'

# PEP 829 (Python 3.15+): a <name>.start file holds `pkg.mod:callable` entry points, one per
# line, called with no arguments at start-up; when a .start file matches a .pth file by name,
# the .pth's `import` lines are skipped (older Pythons ignore .start files and keep running the
# .pth line). The entry point is imported and called on every start, PIPFF set or not, so it
# names the one module that any entry of ours must import anyway (the package's __init__, which
# imports nothing but os and sys, both loaded before site.py reads .pth files), and start_hook()
# checks PIPFF first, as the .pth line does: one import of a small module, then a dict lookup.
START_LINE = "pip_offline_fallback:start_hook"

HOOK_FILES = {
    "pip_offline_fallback.pth": PTH_LINE,
    "pip_offline_fallback.start": START_LINE,
}


class build_py_with_startup_hook(build_py):
    """build_py that also writes the start-up hook files at the root of build_lib.

    Skipped for editable installs: those get no start-up hook (the README says so).
    """

    def _hook_paths(self):
        if getattr(self, "editable_mode", False):
            return []
        return [os.path.join(self.build_lib, name) for name in HOOK_FILES]

    def run(self):
        super().run()
        for path in self._hook_paths():
            if self.dry_run:
                continue
            self.mkpath(os.path.dirname(path))
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(HOOK_FILES[os.path.basename(path)] + "\n")

    def get_outputs(self, include_bytecode=True):
        return list(super().get_outputs(include_bytecode)) + self._hook_paths()


setup(cmdclass={"build_py": build_py_with_startup_hook})
