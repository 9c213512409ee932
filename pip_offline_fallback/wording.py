"""Ages and sizes, in the words pip-ff's lines use (no pip import: ``pip-ff store`` needs none)."""

from __future__ import annotations


def age_text(seconds: float) -> str:
    """``45 seconds``, ``1 minute``, ``3 hours``, ``2 days``: the largest whole unit."""
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{int(seconds)} second{'s' if int(seconds) != 1 else ''}"


def size_text(size: float) -> str:
    """As pip shows sizes (its ``format_size``): ``812 bytes``, ``11.2 kB``, ``3.4 MB``."""
    if size < 1000:
        return f"{int(size)} bytes"
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} TB"
