"""The body stream wrapper that records a download and completes a cut one from a verified copy.

These drive ``tee.BodyTee`` directly with a stream that breaks the way ``http.client`` does; the
same behaviour through real pip and a real dropped connection is ``test_faults`` (drop-mid-file).
"""

from __future__ import annotations

import http.client
import io
from pathlib import Path
from typing import Any, Callable

import pytest

from pip_offline_fallback.store import Store
from pip_offline_fallback.tee import BodyTee as _Tee

BODY = bytes(range(256)) * 40  # 10 KiB
CUT = 4096


class CutStream:
    """Serves ``body`` until ``cut`` bytes went through, then fails as a dropped connection does."""

    def __init__(self, body: bytes, cut: int, failure: str = "incomplete") -> None:
        self._data = io.BytesIO(body[:cut])
        self._failure = failure
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        data = self._data.read(amt)
        if data:
            return data
        if self._failure == "incomplete":
            raise http.client.IncompleteRead(b"", 1)
        if self._failure == "reset":
            raise ConnectionResetError("connection reset by peer")
        return b""  # an early EOF

    def isclosed(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def spare_of(body: bytes | None, calls: list[int]) -> Callable[[], Any]:
    def spare() -> tuple[io.BytesIO, int] | None:
        calls.append(1)
        return None if body is None else (io.BytesIO(body), len(body))

    return spare


def read_all(tee: _Tee, size: int = 1000) -> bytes:
    chunks = []
    while chunk := tee.read(size):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("failure", ["incomplete", "reset", "eof"])
def test_cut_transfer_is_completed_from_the_matching_copy(failure: str) -> None:
    calls: list[int] = []
    tee = _Tee(CutStream(BODY, CUT, failure), None, len(BODY), None, spare_of(BODY, calls))
    assert read_all(tee) == BODY
    assert calls == [1]
    assert tee.isclosed()


def test_readinto_completes_too() -> None:
    tee = _Tee(CutStream(BODY, CUT), None, len(BODY), None, spare_of(BODY, []))
    out = bytearray()
    buffer = bytearray(777)
    while n := tee.readinto(buffer):
        out += buffer[:n]
    assert bytes(out) == BODY


@pytest.mark.parametrize(
    "local",
    [
        pytest.param(b"\xff" + BODY[1:], id="first-byte-differs"),
        pytest.param(BODY + b"!", id="longer"),
        pytest.param(BODY[:-1], id="shorter"),
        pytest.param(None, id="no-local-copy"),
    ],
)
def test_a_copy_that_does_not_match_every_byte_so_far_is_never_spliced(local: bytes | None) -> None:
    tee = _Tee(CutStream(BODY, CUT), None, len(BODY), None, spare_of(local, []))
    with pytest.raises(http.client.IncompleteRead):
        read_all(tee)


def test_without_a_spare_the_failure_is_pips() -> None:
    tee = _Tee(CutStream(BODY, CUT, "reset"), None, len(BODY), None, None)
    with pytest.raises(ConnectionResetError):
        read_all(tee)


def test_a_complete_transfer_never_asks_for_the_local_copy() -> None:
    calls: list[int] = []
    tee = _Tee(CutStream(BODY, len(BODY), "eof"), None, len(BODY), None, spare_of(BODY, calls))
    assert read_all(tee) == BODY
    assert calls == []


@pytest.mark.parametrize("matches", [True, False], ids=["same-copy", "other-copy"])
def test_while_recording_the_recorders_hash_checks_the_prefix(
    tmp_path: Path, matches: bool
) -> None:
    """With a recorder at work, what was received is hashed once (by the recorder), and that
    hash decides; the half-received body is never committed either way."""
    store = Store(str(tmp_path / "store"))
    url = "http://index.invalid/files/pipff_gamma-1.0-py3-none-any.whl"
    recorder = store.recorder(url, {})
    assert recorder is not None
    local = BODY if matches else b"\xff" + BODY[1:]
    tee = _Tee(CutStream(BODY, CUT), recorder, len(BODY), None, spare_of(local, []))
    if matches:
        assert read_all(tee) == BODY
    else:
        with pytest.raises(http.client.IncompleteRead):
            read_all(tee)
    tee.close()
    assert store.lookup(url) is None and not recorder.active
    assert not list((tmp_path / "store" / "v1" / "tmp").iterdir())
