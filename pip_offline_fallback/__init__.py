"""pip-ff: a drop-in pip that finishes the command from local sources when the index is unreachable.

This module stays import-light on purpose: the start-up hook and ``pip-ff --version`` import it.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
