"""The start-up hook behind ``PIPFF``: the ``.pth`` line imports it only when the variable is set.

It uses only ``os`` and ``sys``, never raises, and does no pip work at start-up: it waits for
pip's CLI module to be imported, then lets :mod:`pip_offline_fallback.inject` patch pip.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# The module whose import means "pip is about to run a command": the console scripts,
# ``python -m pip`` and pip's build-isolation runner all import it before building a session.
_TRIGGER = "pip._internal.cli.main"
_OFF = {"0", "false", "no", "off"}


class _Loader:
    """Runs the real loader, then patches pip once the trigger module exists."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        try:
            from pip_offline_fallback import inject

            inject.inject_from_environ()
        except Exception:
            if os.environ.get("PIPFF_DEBUG"):
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _Watcher:
    """A meta path finder that only ever answers for the trigger module, once."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != _TRIGGER:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        _remove()
        if spec.loader is not None:
            spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
        return spec


def _remove() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Watcher)]


def activate() -> None:
    """Called by the ``.pth`` line when ``PIPFF`` is set. Idempotent; never raises."""
    try:
        value = os.environ.get("PIPFF", "").strip().lower()
        if not value or value in _OFF:
            return
        if any(isinstance(f, _Watcher) for f in sys.meta_path):
            return  # site dirs can be processed twice
        if _TRIGGER in sys.modules:
            from pip_offline_fallback import inject

            inject.inject_from_environ()
            return
        sys.meta_path.insert(0, _Watcher())
    except Exception:
        if os.environ.get("PIPFF_DEBUG"):
            raise
