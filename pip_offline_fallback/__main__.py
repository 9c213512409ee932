"""``python -m pip_offline_fallback ARGS``: the same as ``pip-ff ARGS``."""

from __future__ import annotations

import sys

from pip_offline_fallback.launch import main

if __name__ == "__main__":
    sys.exit(main())
