"""What pip-ff does with an error no code path expects: a bug in pip-ff.

The places that must never fail an install (a local lookup, the mirror check) catch the errors
they expect, and hand anything else here. By default a bug is said in one warning line and the
caller fails closed (no local copy; the mirror not trusted). With ``PIPFF_RAISE_BUGS=1`` it is
re-raised instead, so that a test sees a bug as a bug (the test suite sets it).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

RAISE_VARIABLE = "PIPFF_RAISE_BUGS"
_ON = ("1", "true", "yes", "on")


def raising() -> bool:
    """Whether unexpected errors are re-raised (``PIPFF_RAISE_BUGS``)."""
    return os.environ.get(RAISE_VARIABLE, "").strip().lower() in _ON


def unexpected(exc: Exception, what: str) -> None:
    """Call from an ``except Exception`` block: re-raises ``exc`` when ``PIPFF_RAISE_BUGS`` is
    on; otherwise says it once in a warning (``what`` failed) and returns, and the caller fails
    closed."""
    if raising():
        raise exc
    logger.warning("pip-ff: internal error: %s failed (%r); please report it", what, exc)
