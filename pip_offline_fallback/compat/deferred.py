"""pip modules a serve never uses, loaded only when something reads them.

pip's command base (``pip._internal.cli.base_command``, which serve imports to parse pip's
options and build pip's session as pip's commands do) imports rich's traceback renderer, and
with it pygments, for ``--debug``'s tracebacks of a command's run: 20 to 45 ms of a new serve's
start, and serve runs no pip command. :func:`defer` puts a lazy module in its place (the
standard library's ``importlib.util.LazyLoader``): the first read of any of its attributes
loads it whole, so whatever does use it gets it as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

logger = logging.getLogger(__name__)

DEFERRED = ("pip._vendor.rich.traceback",)


def defer(names: tuple[str, ...] = DEFERRED) -> list[str]:
    """Make each of ``names`` (not yet imported) a lazy module; returns those made so."""
    deferred = []
    for name in names:
        if name in sys.modules:
            continue
        parent_name, _, child = name.rpartition(".")
        try:
            parent = importlib.import_module(parent_name)
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                continue
            loader = importlib.util.LazyLoader(spec.loader)  # TypeError: no exec_module()
        except (ImportError, TypeError, ValueError) as exc:
            logger.debug("pip-ff: %s is imported as usual (%r)", name, exc)
            continue
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loader.exec_module(module)
        # ``from parent import child`` then finds it on its parent, without reading it (the
        # import system's lookup in sys.modules would read its __spec__, and load it).
        setattr(parent, child, module)
        deferred.append(name)
    return deferred
