"""pip's ``--python``: pip re-runs itself under another interpreter, where pip-ff must follow.

The fallback follows only if that interpreter has pip-ff's start-up hook installed (the child
inherits ``PIPFF`` and the other settings through the environment); otherwise pip-ff says so
instead of dropping the fallback silently.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

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


def guard(cli_main: Any) -> None:
    """Wrap pip's ``parse_command`` (where pip re-runs itself under ``--python``) so that the
    user hears when the fallback can't follow. Idempotent; :func:`unguard` undoes it."""
    original = getattr(cli_main, "parse_command", None)
    if original is None or getattr(original, "_pipff_original", None) is not None:
        return

    def parse_command(args: list[str]) -> Any:
        target = python_option(args)
        if (
            target is not None
            and "_PIP_RUNNING_IN_SUBPROCESS" not in os.environ
            and has_hook(target) is False
        ):
            logger.warning(
                "pip-ff: --python %s has no pip-ff installed; pip runs there without the fallback",
                target,
            )
        return original(args)

    parse_command._pipff_original = original  # type: ignore[attr-defined]
    cli_main.parse_command = parse_command


def unguard(cli_main: Any) -> None:
    original = getattr(getattr(cli_main, "parse_command", None), "_pipff_original", None)
    if original is not None:
        cli_main.parse_command = original
