"""What every compat module shares: finding an internal across pip releases, and probing it.

A probe is a cheap function that exercises one of pip's internals the way pip-ff uses it and
raises :class:`Broken` (or any error) when it no longer behaves so. Each compat module lists its
probes in ``PROBES``; :func:`pip_offline_fallback.compat.problems` runs them once per process.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable

Probe = Callable[[], None]


class Broken(Exception):
    """One of pip's internals no longer behaves as pip-ff needs it to."""


def expect(condition: object, what: str) -> None:
    """Raise :class:`Broken` saying ``what`` unless ``condition`` holds."""
    if not condition:
        raise Broken(what)


def first(*candidates: tuple[str, str]) -> Any:
    """The first of (module, attribute) that exists: feature detection across pip releases."""
    for module_name, attribute in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        value = getattr(module, attribute, None)
        if value is not None:
            return value
    return None


def module_with(module_name: str, attribute: str) -> ModuleType | None:
    """The module, if it can be imported and has a callable ``attribute``; else None."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return module if callable(getattr(module, attribute, None)) else None


def names_used(function: Any) -> frozenset[str]:
    """The global, attribute and imported names ``function``'s own code looks up: how a probe
    sees, without running it, which names a function of pip's reads."""
    code = getattr(getattr(function, "__wrapped__", function), "__code__", None)
    return frozenset(code.co_names) if code is not None else frozenset()


def parameters(function: Any) -> tuple[str, ...]:
    """The names of ``function``'s positional parameters (how a hook finds its arguments)."""
    code = function.__code__
    return tuple(code.co_varnames[: code.co_argcount])
