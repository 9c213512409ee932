"""pip's ``--python``: pip re-runs itself under another interpreter, where pip-ff must follow.

pip checks ``--python`` (or ``PIP_PYTHON``) in ``parse_command``, before any command exists, and
re-runs itself there at once. pip-ff wraps ``parse_command`` so that, just before, pip is made to
re-run through :mod:`.reach`'s bootstrap, which carries pip-ff into that interpreter whether it
has pip-ff installed or not; the child inherits ``PIPFF`` and the other settings through the
environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pip_offline_fallback.compat.entry import (
    PARSE_COMMAND,
    RERUN_MARKER,
    imported_cli_modules,
    loaded_cli_modules,
)

if TYPE_CHECKING:
    from types import ModuleType

logger = logging.getLogger(__name__)


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


def reruns(args: Sequence[str]) -> bool:
    """Whether pip is about to re-run itself under another interpreter (pip's own test)."""
    if RERUN_MARKER in os.environ:
        return False
    return python_option(args) is not None or bool(os.environ.get("PIP_PYTHON"))


def guard(cli_main: ModuleType) -> None:
    """Wrap pip's ``parse_command`` (where pip re-runs itself under ``--python``) so that pip-ff
    follows. Idempotent; :func:`unguard` undoes it."""
    original = getattr(cli_main, PARSE_COMMAND, None)
    if original is None or getattr(original, "_pipff_original", None) is not None:
        return

    def parse_command(args: list[str]) -> tuple[str, list[str]]:
        if reruns(args):
            try:
                from pip_offline_fallback import reach

                reach.carry()
            except Exception as exc:
                logger.warning(
                    "pip-ff: can't follow pip under --python (%s); pip runs there without the "
                    "fallback",
                    exc,
                )
        return original(args)

    parse_command._pipff_original = original  # type: ignore[attr-defined]
    setattr(cli_main, PARSE_COMMAND, parse_command)


def unguard(cli_main: ModuleType) -> None:
    original = getattr(getattr(cli_main, PARSE_COMMAND, None), "_pipff_original", None)
    if original is not None:
        setattr(cli_main, PARSE_COMMAND, original)


def guard_cli() -> None:
    """Guard every module of pip's CLI that holds ``parse_command`` (importing them)."""
    for module in loaded_cli_modules():
        guard(module)


def unguard_cli() -> None:
    """Undo :func:`guard_cli` in the modules imported so far."""
    for module in imported_cli_modules():
        unguard(module)
