"""The raw body stream under a urllib3 response, where pip-ff taps what pip reads.

urllib3's ``HTTPResponse`` reads the body from the stream it keeps in ``_fp`` (http.client's
response, for a real connection): with ``read``/``read1`` for a body of known length, and with
http.client's ``_safe_read`` for a chunked one. A tap put there (:mod:`pip_offline_fallback.tee`)
sees every byte pip reads, the way cachecontrol's CallbackFileWrapper does for pip's cache.
"""

from __future__ import annotations

import http.client
import io
from typing import Any

from pip._vendor.urllib3.response import HTTPResponse

from pip_offline_fallback.compat.probing import Probe, expect

IncompleteRead = http.client.IncompleteRead

# The methods of the stream that urllib3 reads body bytes with; a tap implements all of them.
READ_METHODS = ("read", "read1", "readinto", "_safe_read")


def body_stream(raw: Any) -> Any:
    """The stream urllib3 reads ``raw``'s body from (None: it has none, or it is read)."""
    return getattr(raw, "_fp", None)


def replace_body_stream(raw: Any, stream: Any) -> None:
    """Make urllib3 read ``raw``'s body from ``stream`` (a tap around :func:`body_stream`)."""
    raw._fp = stream


def safe_read(stream: Any, amount: int) -> Any:
    """http.client's exact read of ``amount`` bytes, which urllib3 calls for each chunk."""
    return stream._safe_read(amount)


class _Spy:
    """A tap in miniature: counts the bytes that pass through :data:`READ_METHODS`."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.seen = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def _count(self, data: Any) -> Any:
        self.seen += len(data)
        return data

    def read(self, *args: Any) -> Any:
        return self._count(self.stream.read(*args))

    def read1(self, *args: Any) -> Any:
        return self._count(self.stream.read1(*args))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _safe_read(self, amount: int) -> Any:
        return self._count(safe_read(self.stream, amount))


class _Socket:
    """Just enough of a socket for http.client to read a canned response from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self.data)


_BODY = b"pip-ff probe"


def _read_through_tap(head: bytes, body: bytes) -> tuple[bytes, int]:
    response = b"HTTP/1.1 200 OK\r\n" + head + b"\r\n" + body
    source = http.client.HTTPResponse(_Socket(response), method="GET")  # type: ignore[arg-type]
    source.begin()
    raw = HTTPResponse(
        body=source,
        headers=dict(source.getheaders()),
        status=200,
        preload_content=False,
        decode_content=False,
        original_response=source,
    )
    expect(body_stream(raw) is source, "urllib3 no longer keeps the body stream in _fp")
    spy = _Spy(source)
    replace_body_stream(raw, spy)
    data = b"".join(raw.stream(4, decode_content=False))
    return data, spy.seen


def _tap_sees_every_byte() -> None:
    length = b"Content-Length: %d\r\n" % len(_BODY)
    data, seen = _read_through_tap(length, _BODY)
    expect(data == _BODY and seen == len(_BODY), "urllib3 reads a body past its _fp stream")
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(_BODY), _BODY)
    data, seen = _read_through_tap(b"Transfer-Encoding: chunked\r\n", chunked)
    # seen counts each chunk's closing CRLF too, read through the same method.
    expect(data == _BODY and seen >= len(_BODY), "urllib3 reads chunks past _fp._safe_read")


PROBES: dict[str, Probe] = {"the raw body stream": _tap_sees_every_byte}
