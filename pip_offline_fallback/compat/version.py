"""pip's version, and the releases pip-ff supports (23.0 to 26.x)."""

from __future__ import annotations

import pip

from pip_offline_fallback.compat.probing import Broken, Probe

# pip's own packaging: the range itself needs pip importable (a broken pip fails this module's
# import, which the probes report as "can't be hooked").
from pip_offline_fallback.compat.vendored import InvalidVersion, Version

LOWEST_PIP = Version("23.0")
NEXT_UNSUPPORTED_PIP = Version("27")

PIP_VERSION_TEXT: str = pip.__version__
try:
    PIP_VERSION: Version | None = Version(PIP_VERSION_TEXT)
except InvalidVersion:
    PIP_VERSION = None


def _supported() -> None:
    if PIP_VERSION is None or not (LOWEST_PIP <= PIP_VERSION < NEXT_UNSUPPORTED_PIP):
        raise Broken(f"pip {PIP_VERSION_TEXT} is outside the supported range (23.0 to 26.x)")


PROBES: dict[str, Probe] = {"the supported range": _supported}
