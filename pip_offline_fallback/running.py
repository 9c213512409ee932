"""The engine of this process: made when pip-ff is injected into pip (:mod:`.inject`), and
asked by the hooks on pip (adapter, finder), by serve and by ``pip-ff store``."""

from __future__ import annotations

from pip_offline_fallback.config import Settings
from pip_offline_fallback.engine import Engine

_active: Engine | None = None


def active_engine() -> Engine | None:
    """The engine of this process, or None when pip-ff is not injected."""
    return _active


def activate(settings: Settings) -> Engine:
    global _active
    _active = Engine(settings)
    return _active


def deactivate() -> None:
    global _active
    _active = None
