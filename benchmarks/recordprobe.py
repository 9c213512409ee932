"""Row 8's per-request profile of the online path: what recording one response costs, by step.

Run by benchmarks/sections/profile.py with the Python of a venv that has the pip-ff under test
(``python recordprobe.py STORE OUT.json``). It replays every body recorded in the store ``STORE``
(a copy of a warm state: the index pages, metadata files and wheels of one online install)
through pip-ff's recording exactly as an online install does: the tap (:class:`.BodyTee`) that
pip reads each body through, in the chunks pip reads, the recorder that writes and hashes it,
and the commit into the store. It then times each step on its own, on the same bodies, to split
that total: the temporary file, hashing, writing, the store lock, the replace check, the blob's
rename and the entry's write, an fsync (which pip-ff does not do), the keyed digest of
credentials (HMAC, only for requests that carry some), and the hard link that shares a body
with pip's HTTP cache (once per body at the end of a command). Every number is the median over
rounds of the sum over all bodies, divided by the number of bodies: milliseconds per request.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from pip_offline_fallback import sharing
from pip_offline_fallback.compat import http_cache_path
from pip_offline_fallback.store import Entry, Store
from pip_offline_fallback.tee import BodyTee

ROUNDS = 7
CHUNK = 256 * 1024  # what pip 26 reads at a time (pip 23: 10 KiB for pages, more for files)


def _bodies(store: Store) -> list[tuple[Entry, bytes]]:
    out = []
    for entry in store.entries():
        with open(entry.blob, "rb") as f:
            out.append((entry, f.read()))
    return out


def _timed(step: Callable[[], Any]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def _record_through_tee(store: Store, entry: Entry, body: bytes) -> None:
    """One response as pip reads it online: through the tap, into the record, committed."""
    recorder = store.recorder(entry.url, entry.headers)
    tee = BodyTee(io.BytesIO(body), recorder, len(body), lambda sha256: None)
    while tee.read(CHUNK):
        pass


def _write_and_commit(store: Store, entry: Entry, body: bytes, fsync: bool) -> dict[str, float]:
    recorder = store.recorder(entry.url, entry.headers)
    assert recorder is not None
    f = recorder._file
    assert f is not None
    started = time.perf_counter()
    for at in range(0, len(body), CHUNK):
        f.write(body[at : at + CHUNK])
    f.flush()
    write = time.perf_counter() - started
    synced = 0.0
    if fsync:
        synced = _timed(lambda: os.fsync(f.fileno()))
    recorder._digest.update(body)
    recorder.size = len(body)
    commit = _timed(recorder.commit)
    return {"write": write, "fsync": synced, "commit": commit}


def measure(root: str) -> dict[str, Any]:
    store = Store(root)
    bodies = _bodies(store)
    n = len(bodies)
    rounds: list[dict[str, float]] = []
    for _ in range(ROUNDS):
        sums: dict[str, float] = dict.fromkeys(
            ("whole", "open", "hash", "write", "commit", "lock", "check", "entry", "fsync", "hmac"),
            0.0,
        )
        for entry, body in bodies:
            sums["whole"] += _timed(lambda e=entry, b=body: _record_through_tee(store, e, b))
        for entry, body in bodies:
            sums["hash"] += _timed(lambda b=body: hashlib.sha256(b).hexdigest())
            recorder = store.recorder(entry.url, entry.headers)
            sums["open"] += _timed(lambda e=entry: store.recorder(e.url, e.headers).abort())  # type: ignore[union-attr]
            if recorder is not None:
                recorder.abort()
            split = _write_and_commit(store, entry, body, fsync=False)
            sums["write"] += split["write"]
            sums["commit"] += split["commit"]

            def lock_once() -> None:
                with store.lock(1.0):
                    pass

            sums["lock"] += _timed(lock_once)
            sums["check"] += _timed(lambda e=entry: store._refused(e.url, e.sha256))
            sums["entry"] += _timed(
                lambda e=entry: store._write_entry(e.url, e.headers, e.sha256, e.size, None)
            )
            sums["fsync"] += _write_and_commit(store, entry, body, fsync=True)["fsync"]
            sums["hmac"] += _timed(lambda: store.identity("Basic dXNlcjpwYXNzd29yZA=="))
        rounds.append({k: v / n * 1000 for k, v in sums.items()})
    result: dict[str, Any] = {
        "requests": n,
        "bytes": sum(len(b) for _, b in bodies),
        "ms": {k: statistics.median(r[k] for r in rounds) for k in rounds[0]},
    }
    result["ms"]["link"] = _sharing_ms(store, bodies)
    return result


def _sharing_ms(store: Store, bodies: list[tuple[Entry, bytes]]) -> float:
    """Linking each body with a pip HTTP cache file of the same bytes (as pip 23.3+ keeps them),
    per body: what the end of a command does where the index sends cache headers."""
    runs = []
    for i in range(3):
        cache = os.path.join(store.root, f"pip-cache-{i}")
        directory = os.path.join(cache, "http-v2")
        recorded = []
        for entry, body in bodies:
            path = http_cache_path(directory, entry.url) + ".body"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
            os.chmod(path, 0o600)
            recorded.append((entry.url, entry.sha256))
        runs.append(_timed(lambda c=cache, r=recorded: sharing.share_with_pip_cache(store, c, r)))
        shutil.rmtree(cache)
    return statistics.median(runs) / len(bodies) * 1000


def main(argv: list[str]) -> int:
    root, out = argv
    with open(out, "w", encoding="utf-8") as f:
        json.dump(measure(root), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
