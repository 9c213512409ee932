"""The ``packaging`` pip-ff uses: pip's own vendored copy, never a separate distribution.

pip-ff runs only where pip runs, and pip's vendored ``packaging`` runs on every Python that pip
supports. A separately installed ``packaging`` is chosen for the interpreter pip-ff was installed
with: the newest (26.x) needs Python 3.10+, so the copy pip-ff carried into an older target
(``pip --python``) or packed into a tox env failed to load there (issue 23). pip 23.0 vendors
packaging 21.3; every name below exists, with the same behaviour, from 21.3 on.
"""

from __future__ import annotations

from pip._vendor.packaging.specifiers import InvalidSpecifier, SpecifierSet
from pip._vendor.packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from pip._vendor.packaging.version import InvalidVersion, Version

__all__ = [
    "InvalidSdistFilename",
    "InvalidSpecifier",
    "InvalidVersion",
    "InvalidWheelFilename",
    "NormalizedName",
    "SpecifierSet",
    "Version",
    "canonicalize_name",
    "parse_sdist_filename",
    "parse_wheel_filename",
]
