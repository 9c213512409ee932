"""SHA-256 and HMAC-SHA256 for ``pip-ff run``, without importing hashlib or hmac.

With its serve up, a run must cost next to nothing over its command, and importing hashlib
loads OpenSSL and looks up every algorithm it offers: about 10 ms, as much as the rest of run's
own work. run needs SHA-256 alone (its serve's fingerprint, the questions and proofs that tell
this user's serve from anything else on the port), so it takes CPython's own SHA-256 module
(``_sha2`` since 3.12, ``_sha256`` before; hashlib's where neither is built) and computes HMAC
as RFC 2104 says, as the hmac module does. tests/test_serve_peruser.py checks it against hmac.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:
        from _sha2 import sha256  # CPython 3.12 and later
    except ImportError:
        try:
            from _sha256 import sha256
        except ImportError:  # an interpreter built without them
            from hashlib import sha256

_BLOCK = 64  # SHA-256's block size in bytes
_INNER = bytes(x ^ 0x36 for x in range(256))
_OUTER = bytes(x ^ 0x5C for x in range(256))


def hmac_sha256(key: bytes, message: bytes) -> str:
    """HMAC-SHA256(key, message), in hex (what ``hmac.new(key, message, "sha256")`` gives)."""
    if len(key) > _BLOCK:
        key = sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = sha256(key.translate(_INNER) + message).digest()
    return sha256(key.translate(_OUTER) + inner).hexdigest()


def same(a: str, b: str) -> bool:
    """Whether two digests are equal, in a time that doesn't tell where they differ (the
    comparison hmac.compare_digest makes; ``_operator``'s is built into the interpreter)."""
    try:
        from _operator import _compare_digest
    except ImportError:  # not CPython
        from hmac import compare_digest as _compare_digest
    return _compare_digest(a.encode(), b.encode())
