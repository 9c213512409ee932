"""The body tap: what pip reads of a response's body is also recorded, and a transfer that ends
short is completed from a verified local copy of the same bytes.

It wraps the raw stream under urllib3's response (see :mod:`pip_offline_fallback.compat.body`:
where that stream is, and which of its methods urllib3 reads with), the way cachecontrol's
CallbackFileWrapper taps a body for pip's own cache.
"""

from __future__ import annotations

import hashlib
import logging
from typing import IO, TYPE_CHECKING, Any, Callable, Optional

from pip_offline_fallback import compat
from pip_offline_fallback.hashing import copy_with_hashing

if TYPE_CHECKING:
    from http.client import HTTPResponse

    from pip_offline_fallback.store.recorder import Recorder

logger = logging.getLogger(__name__)

# For a transfer that drops short: the verified local copy of the URL and its size.
Spare = Callable[[], Optional[tuple["IO[bytes]", int]]]


class BodyTee:
    """Wraps the raw body stream of a response: what pip reads is also recorded.

    The body is committed only once exactly Content-Length bytes went through; a transfer that
    drops, or that pip abandons, leaves nothing behind. When the transfer ends short (the
    connection dropped, reset or timed out mid-body) and ``spare`` yields a verified local copy
    of the same size that agrees with every byte received so far, the rest of the body is read
    from that copy: pip gets the whole file, as if the transfer had completed.
    """

    def __init__(
        self,
        fp: HTTPResponse,
        recorder: Recorder | None,
        expected: int,
        on_commit: Callable[[str], None],
        spare: Spare | None = None,
    ) -> None:
        self.__fp = fp
        self.__recorder = recorder
        self.__expected = expected
        self.__on_commit = on_commit
        self.__spare = spare
        self.__received = 0
        # What was received so far, hashed (only with a spare, to check it against the local
        # copy): the recorder's own running hash while it records, so no byte is hashed twice.
        self.__prefix: hashlib._Hash | None = None
        if spare is not None and (recorder is None or not recorder.active):
            self.__prefix = hashlib.sha256()
        self.__local: IO[bytes] | None = None
        if expected == 0 and recorder is not None:
            self.__commit()

    def __commit(self) -> None:
        recorder = self.__recorder
        assert recorder is not None  # only called while recording
        recorder.commit()
        sha256 = getattr(recorder, "sha256", None)
        if sha256:
            self.__on_commit(sha256)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__fp, name)

    def __feed(self, data: bytes) -> bytes:
        if not data:
            return data
        self.__received += len(data)
        if self.__local is not None:
            return data
        if self.__prefix is not None:
            self.__prefix.update(data)
        recorder = self.__recorder
        if recorder is None or not recorder.active:
            return data
        recorder.write(data)
        if not recorder.active:
            if self.__spare is not None:
                # The recorder gave up (a full disk) before this chunk: hash on from its state.
                self.__prefix = recorder.digest_so_far()
                self.__prefix.update(data)
        elif recorder.size == self.__expected:
            self.__commit()
        elif recorder.size > self.__expected:
            recorder.abort()
        return data

    def __short(self) -> bool:
        """The network ended short: switch to the local copy if it fits (True), else False."""
        spare, self.__spare = self.__spare, None
        if spare is None or self.__received >= self.__expected:
            return False
        try:
            found = spare()
            if found is None:
                return False
            body, size = found
            received = self.__prefix
            if received is None and self.__recorder is not None:
                received = self.__recorder.digest_so_far()
            if received is None:  # neither hashed nor recorded: nothing to compare
                body.close()
                return False
            prefix = copy_with_hashing(body, limit=self.__received)[0]
            if size != self.__expected or prefix != received.hexdigest():
                body.close()
                return False
        except Exception as exc:
            logger.debug("pip-ff: no local copy to complete a short transfer: %r", exc)
            return False
        if self.__recorder is not None:
            self.__recorder.abort()  # the local copy is that very body, already kept
        self.__local = body
        return True

    def __read(self, method: str, *args: int) -> bytes:
        if self.__local is not None:
            return self.__feed(getattr(self.__local, method)(*args))
        try:
            data = getattr(self.__fp, method)(*args)
        except compat.IncompleteRead as exc:
            data = exc.partial
            if data:
                return self.__feed(data)
            if self.__short():
                return self.__read(method, *args)
            raise
        except OSError:
            if self.__short():
                return self.__read(method, *args)
            raise
        if not data and (not args or args[0]) and self.__short():
            return self.__read(method, *args)
        return self.__feed(data)

    def read(self, *args: int) -> bytes:
        return self.__read("read", *args)

    def read1(self, *args: int) -> bytes:
        return self.__read("read1", *args)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.__read("read", len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _safe_read(self, amt: int) -> bytes:  # one of compat.READ_METHODS: urllib3 calls it
        if self.__local is not None:
            return self.__read("read", amt)
        return self.__feed(compat.safe_read(self.__fp, amt))

    def isclosed(self) -> bool:
        if self.__local is not None:
            return self.__received >= self.__expected
        return bool(self.__fp.isclosed())

    @property
    def closed(self) -> bool:
        if self.__local is not None:
            return bool(self.__local.closed)
        return bool(self.__fp.closed)

    def close(self) -> None:
        if self.__recorder is not None:
            self.__recorder.abort()  # no-op once committed
        if self.__local is not None:
            self.__local.close()
        self.__fp.close()
