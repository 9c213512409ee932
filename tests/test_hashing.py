"""Pure logic, in-process: the one way a body is hashed (hashing.py, issue 34)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator

import pytest

from pip_offline_fallback.hashing import CHUNK, Readable, Source, copy_with_hashing

_BODY = os.urandom(3 * CHUNK + 17)


class _ReadOnly:
    """A file object with ``read`` alone (no ``readinto``), handing out fewer bytes than asked."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self._data.read(max(1, size // 3))


def _chunks(data: bytes) -> Iterator[bytes]:
    return iter([data[:5], b"", data[5:]])


@pytest.mark.parametrize("make", [io.BytesIO, _ReadOnly, _chunks])
def test_the_whole_body_is_hashed_and_copied(make: Callable[[bytes], Source]) -> None:
    copy = io.BytesIO()
    assert copy_with_hashing(make(_BODY), copy) == (hashlib.sha256(_BODY).hexdigest(), len(_BODY))
    assert copy.getvalue() == _BODY


@pytest.mark.parametrize("limit", [0, 1, CHUNK, CHUNK + 1, len(_BODY), len(_BODY) + 5])
@pytest.mark.parametrize("make", [io.BytesIO, _ReadOnly])
def test_a_limit_reads_no_byte_past_it(limit: int, make: Callable[[bytes], Readable]) -> None:
    # The body tap hashes the first bytes of a local copy, then reads on from there.
    source = make(_BODY)
    sha256, size = copy_with_hashing(source, limit=limit)
    assert (sha256, size) == (hashlib.sha256(_BODY[:limit]).hexdigest(), len(_BODY[:limit]))
    assert b"".join(iter(lambda: source.read(CHUNK), b"")) == _BODY[limit:]
