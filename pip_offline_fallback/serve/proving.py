"""The challenge/proof protocol between ``pip-ff run`` and the per-user serve.

A run asks what answers on the serve's port to prove it is this user's serve: one request,
``/-pipff/ask/<nonce>/<question>``, whose answer is signed with the user's secret (state.py's
``secret`` file) and says what the serve runs and has answered. This module holds both halves
of it: the HMACs the serve answers with (control.py) and the asking (:func:`challenge`). It is
imported on every ``pip-ff run``, so it imports nothing heavy: ``_socket``, not ``socket``.
"""

from __future__ import annotations

import _socket
import os

from pip_offline_fallback.serve import digest, state

ABSENT, FOREIGN, OURS = "absent", "foreign", "ours"


class Proven:
    """What a serve proved about itself."""

    def __init__(self, port: int, prefix: str, fields: dict[str, str]) -> None:
        self.port = port
        self.prefix = prefix
        self.pid = state.number(fields, "pid")
        self.version = fields.get("version", "")
        self.fingerprint = fields.get("fingerprint", "")
        self.counts = {k[6:]: state.number(fields, k) for k in fields if k.startswith("count.")}
        self.down = {k[5:]: v for k, v in fields.items() if k.startswith("down.")}
        self.words = {k[5:]: v for k, v in fields.items() if k.startswith("word.")}
        self.answered = fields.get("answered", "")  # "<pid>:<n>" (control.py); "": not kept
        self.where = ""  # its state directory (current() and _start() say)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}/simple/"


def challenge(
    port: int, prefix: str, key: bytes, timeout: float = 5.0
) -> tuple[str, Proven | None]:
    """Ask what answers on ``port`` to prove it is this user's serve: (ABSENT, None) when
    nothing listens, (FOREIGN, None) when something else answers, else (OURS, what it said).

    One request, ``/-pipff/ask/<nonce>/<question>`` (control.py), without the token: a program
    that took a dead serve's port must never receive the token of a private index, and the
    question it gets is good only for that port and for two minutes (:func:`question`). The
    answer, signed with the secret, proves the serve and says what it runs and has answered.
    A port that answers it with no 200 may hold an older pip-ff's serve: that one is asked in
    the two steps it knows (:func:`_two_steps`), so that it can be replaced."""
    once = nonce()
    shown = question(key, once, f"127.0.0.1:{port}")
    verdict, body = _ask(port, f"/-pipff/ask/{once}/{shown}", timeout)
    if verdict == _NOT_200:
        return _two_steps(port, prefix, key, timeout)
    if verdict != OURS:
        return verdict, None
    return _proven(port, prefix, key, once, body)


def _two_steps(port: int, prefix: str, key: bytes, timeout: float) -> tuple[str, Proven | None]:
    """An older pip-ff's serve: the proof alone first (without the token), then, once proven,
    ``<prefix>/-pipff/state/...`` (with the token), as it answers."""
    nonce = os.urandom(16).hex()
    verdict, body = _ask(port, f"/-pipff/proof/{nonce}", timeout)
    if verdict != OURS:
        return (ABSENT if verdict == ABSENT else FOREIGN), None
    if not _signed(body.partition("\n")[0], proof(key, nonce, "")):
        return FOREIGN, None
    nonce = os.urandom(16).hex()
    verdict, body = _ask(port, f"{prefix}/-pipff/state/{nonce}/{asker(key, nonce)}", timeout)
    if verdict == _NOT_200:  # proven, yet no answer: an older one still, without the asker
        verdict, body = _ask(port, f"{prefix}/-pipff/state/{nonce}", timeout)
    if verdict != OURS:
        return FOREIGN, None
    return _proven(port, prefix, key, nonce, body)


def _proven(port: int, prefix: str, key: bytes, nonce: str, body: str) -> tuple[str, Proven | None]:
    first, _, said = body.partition("\n")
    if not _signed(first, proof(key, nonce, said)):
        return FOREIGN, None
    return OURS, Proven(port, prefix, state.decode(said))


def _signed(line: str, expected: str) -> bool:
    return line.startswith("proof ") and digest.same(line[6:], expected)


_NOT_200 = "not-200"  # _ask: an answer, but no 200 (FOREIGN to challenge's callers)


def _ask(port: int, path: str, timeout: float) -> tuple[str, str]:
    """GET ``path`` on ``port`` over a plain socket: (ABSENT, "") when nothing listens,
    (FOREIGN, "") when no answer comes, (_NOT_200, "") when the answer is no 200, else
    (OURS, its body: still to be proven)."""
    # Not create_connection: its getaddrinfo would import the idna codec (and re) each run;
    # not the socket module either: its enums and selectors cost each run 7 ms.
    connection = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        connection.settimeout(timeout)
        connection.connect(("127.0.0.1", port))
        if connection.getsockname() == connection.getpeername():
            # Nothing listens, and the kernel gave this socket the port itself (a port in the
            # ephemeral range, as the OS-chosen ones are): TCP's self-connect.
            raise ConnectionRefusedError
    except OSError as exc:
        connection.close()
        return (ABSENT if isinstance(exc, ConnectionRefusedError) else FOREIGN), ""
    try:
        request = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        connection.sendall(request.encode("ascii"))
        data = b""
        while len(data) < 65536:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return FOREIGN, ""
    finally:
        connection.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
        return (_NOT_200 if head.startswith(b"HTTP/") else FOREIGN), ""
    return OURS, body.decode("utf-8", "replace")


def proof(key: bytes, nonce: str, fields: str) -> str:
    """What a serve answers to a challenge: HMAC(secret, nonce and what it says of itself)."""
    return _hmac(key, f"pip-ff serve\0{nonce}\0{fields}")


def asker(key: bytes, nonce: str) -> str:
    """What an older ``pip-ff run`` showed the serve with its question for the state (its second
    request, after the proof): HMAC(secret, nonce), apart from the serve's own proofs (another
    prefix), so a proof never serves as one. Still answered, so that an older run can prove
    and replace a newer serve."""
    return _hmac(key, f"pip-ff run\0{nonce}")


QUESTION_WINDOW = 120  # seconds a question's nonce stays good (it starts with the time)


def nonce() -> str:
    """A question's nonce: the time (8 hex digits of seconds), then 12 random bytes."""
    import time

    return f"{int(time.time()) & 0xFFFFFFFF:08x}{os.urandom(12).hex()}"


def question(key: bytes, nonce: str, host: str) -> str:
    """What ``pip-ff run`` shows the serve with its one question (who are you, what have you
    answered): HMAC(secret, the address asked and the nonce), under a prefix of its own. It
    goes out before the serve is proven, so it is bound to the address (the serve takes it only
    for its own ``Host``: a program that got it on one port can't replay it to a serve on
    another) and to the time in the nonce (:func:`fresh`)."""
    return _hmac(key, f"pip-ff ask\0{host}\0{nonce}")


def fresh(nonce: str, now: float) -> bool:
    """Whether a question's nonce was made within :data:`QUESTION_WINDOW` seconds of ``now``."""
    try:
        made = int(nonce[:8], 16)
    except ValueError:
        return False
    return abs((int(now) & 0xFFFFFFFF) - made) <= QUESTION_WINDOW


def _hmac(key: bytes, text: str) -> str:
    return digest.hmac_sha256(key, text.encode())
