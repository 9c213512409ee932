"""The start-up hook behind ``PIPFF``: :func:`pip_offline_fallback.start_hook` (the ``.pth`` line,
the ``.start`` entry point) imports it only when the variable switches pip-ff on.

It imports only ``os`` and ``sys`` until pip is imported, never raises, and does no pip work at
start-up. It waits for pip's CLI module (imported by the console scripts, ``python -m pip`` and
build isolation's runner), then wraps two of pip's functions:

- ``create_command``: once pip has imported the command it runs (and with it the session and
  finder modules), :mod:`pip_offline_fallback.inject` hooks pip. ``pip --version`` and other
  work that creates no command stays as cheap as without pip-ff.
- ``parse_command``: where pip re-runs itself under ``--python`` (see :mod:`.interpreter`).
"""

import os
import sys

# Type hints only: importing ``typing`` (or ``__future__``) at start-up would double the modules
# every Python with PIPFF set loads. mypy reads any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

    from pip._internal.cli.base_command import Command

# pip's CLI module (compat.entry.CLI_MAIN, which can't be imported here: start-up loads nothing
# but this module; a test keeps the two equal).
_CLI_MAIN = "pip._internal.cli.main"
_OFF = {"0", "false", "no", "off"}


def _debug() -> bool:
    return bool(os.environ.get("PIPFF_DEBUG"))


_warned = False


def _broken(exc: Exception) -> None:
    """pip-ff could not be loaded (a module or a dependency missing, say): one warning per
    process, then plain pip runs. Silence here would look like a fallback that failed."""
    global _warned
    if _debug():
        raise exc
    if _warned:
        return
    _warned = True
    import logging  # pip is being imported by now: start-up is over

    logging.getLogger(__name__).warning(
        "pip-ff can't be loaded (%s: %s); running plain pip without fallback",
        type(exc).__name__,
        exc,
    )


def _hook_pip() -> None:
    try:
        from pip_offline_fallback import inject

        inject.inject_from_environ()
    except Exception as exc:  # the hook must never break pip
        _broken(exc)


def _wrap_create_command(owner: "ModuleType") -> None:
    original = getattr(owner, "create_command", None)  # compat.entry.CREATE_COMMAND
    if original is None or getattr(original, "_pipff_original", None) is not None:
        return

    def create_command(*args: "Any", **kwargs: "Any") -> "Command":
        command = original(*args, **kwargs)
        _hook_pip()
        return command

    create_command._pipff_original = original  # type: ignore[attr-defined]
    owner.create_command = create_command  # type: ignore[attr-defined]


def _on_cli_main(cli_main: "ModuleType") -> None:
    # pip is being imported: start-up is over. compat.entry imports nothing of pip's own.
    from pip_offline_fallback import interpreter
    from pip_offline_fallback.compat import entry

    for owner in entry.create_command_owners(cli_main):
        _wrap_create_command(owner)
    for owner in entry.parse_command_owners(cli_main):
        interpreter.guard(owner)


class _Loader:
    """Runs the real loader of pip's CLI module, then wraps what pip-ff needs."""

    def __init__(self, loader: "Loader") -> None:
        self._loader = loader

    def create_module(self, spec: "ModuleSpec") -> "ModuleType | None":
        return self._loader.create_module(spec)

    def exec_module(self, module: "ModuleType") -> None:
        self._loader.exec_module(module)
        try:
            _on_cli_main(module)
        except Exception as exc:  # the hook must never break pip
            _broken(exc)

    def __getattr__(self, name: str) -> "Any":
        return getattr(self._loader, name)


class _Watcher:
    """A meta path finder that only ever answers for pip's CLI module, once."""

    def find_spec(
        self,
        fullname: str,
        path: "Sequence[str] | None" = None,
        target: "ModuleType | None" = None,
    ) -> "ModuleSpec | None":
        if fullname != _CLI_MAIN:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        if spec.loader is not None:
            spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
        return spec


def activate() -> None:
    """Called by :func:`pip_offline_fallback.start_hook` when ``PIPFF`` switches pip-ff on.
    Idempotent; never raises."""
    try:
        value = os.environ.get("PIPFF", "").strip().lower()
        if not value or value in _OFF:
            return
        if any(isinstance(f, _Watcher) for f in sys.meta_path):
            return  # site dirs can be processed twice
        if _CLI_MAIN in sys.modules:
            _on_cli_main(sys.modules[_CLI_MAIN])
            return
        sys.meta_path.insert(0, _Watcher())
    except Exception:  # never break interpreter start-up
        if _debug():
            raise
