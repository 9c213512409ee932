"""pip's ``--python``: pip re-runs itself under another interpreter, where pip-ff must follow.

The fallback follows only if that interpreter has pip-ff's start-up hook installed (the child
inherits ``PIPFF`` and the other settings through the environment); otherwise pip-ff says so
instead of dropping the fallback silently.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

_PROBE = (
    "import os, sys; "
    "sys.exit(0 if any(os.path.isfile(os.path.join(p, 'pip_offline_fallback.pth')) "
    "for p in sys.path if p) else 3)"
)


def python_option(args: Sequence[str]) -> str | None:
    """The value of ``--python`` given before the subcommand (where pip honours it)."""
    items = list(args)
    for i, arg in enumerate(items):
        if arg == "--python":
            return items[i + 1] if i + 1 < len(items) else None
        if arg.startswith("--python="):
            return arg.partition("=")[2]
        if not arg.startswith("-"):
            return None
    return None


def _executable(python: str) -> str | None:
    # The same rule as pip's identify_python_interpreter: a file, or a venv directory.
    if os.path.isdir(python):
        for exe in ("bin/python", "Scripts/python.exe"):
            candidate = os.path.join(python, exe)
            if os.path.exists(candidate):
                return candidate
        return None
    return python if os.path.exists(python) else None


def has_hook(python: str) -> bool | None:
    """Whether that interpreter loads pip-ff's hook; None when it can't be told (pip decides)."""
    executable = _executable(python)
    if executable is None:
        return None
    try:
        result = subprocess.run(
            [executable, "-c", _PROBE],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode not in (0, 3):
        return None
    return result.returncode == 0
