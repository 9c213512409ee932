"""Room on CPython's frame stack for a pip command, so that pip's loops never straddle a chunk.

CPython 3.11 and newer keep Python frames on a stack made of chunks (16 KiB at first): a call
whose frame doesn't fit in the current chunk maps a new chunk, and its return unmaps it again. A
loop whose calls cross a chunk's end therefore maps and unmaps 16 KiB on every call. Where the
ends fall depends on how deep pip runs, and pip-ff's own frames (its entry point, its hooks)
change that depth: measured on a fallback install of 20 distributions, pip-ff's process made
about 4,400 ``mmap`` and as many ``munmap`` calls (plain pip: 258 and 20), some 0.1 s of system
time, all of it from the depth alone (the same install through a different entry point made
1,400).

So :func:`call` runs a pip command in a frame that claims a large stack (a code object whose
stack size says 16384 slots, 128 KiB, of which nothing is written): it never fits the current
chunk, so CPython maps a 256 KiB chunk for it, and every frame of the command then has the other
128 KiB before that chunk's end. Older Pythons (3.9, 3.10) allocate frames one by one: there it
is a plain call.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, TypeVar

_T = TypeVar("_T")
SLOTS = 16384  # 128 KiB of 8-byte slots: the chunk CPython maps for the frame is 256 KiB


def _room(function: Callable[..., _T], *args: object) -> _T:
    return function(*args)


if sys.version_info >= (3, 11) and sys.implementation.name == "cpython":
    # A Python that won't: a plain call.
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        _room.__code__ = _room.__code__.replace(co_stacksize=SLOTS)


def call(function: Callable[..., _T], *args: object) -> _T:
    """``function(*args)``, its frames on a stack chunk with ample room (see the module)."""
    return _room(function, *args)
