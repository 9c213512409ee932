"""A big pip cache directory, made fast: pip-ff's record with tens of thousands of entries, and
tens of thousands of entries in pip's own HTTP cache.

pip-ff's record is written directly in the layout of pip_offline_fallback/store.py::

    <cache>/pip-ff/v1/entries/<k[:2]>/<k>.json   k = sha256 of the URL key
    <cache>/pip-ff/v1/blobs/<s[:2]>/<s>          s = sha256 of the body

with real, verifiable entries (the body's sha256 and size are right), for URLs on the same host as
the benchmark's index: index pages, PEP 658 metadata files and wheels of projects that the
benchmark never asks for. pip's HTTP cache entries (``http-v2/a/b/c/d/e/<sha224>`` and
``<sha224>.body``) are junk of the right shape: they only have to exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import urllib.parse
from pathlib import Path


def url_key(url: str) -> str:
    """store.url_key for the plain URLs made here: no fragment, lower-case scheme and host."""
    parts = urllib.parse.urlsplit(url)
    netloc = (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def grow_store(cache_dir: Path, base_url: str, entries: int, *, seed: int = 1) -> list[str]:
    """Add ``entries`` entries (each an entry file and a blob: twice as many files) to the record
    of the pip cache ``cache_dir``. Returns a few of the URLs, for a read-back check."""
    rng = random.Random(seed)
    root = os.path.join(cache_dir, "pip-ff", "v1")
    for part in ("entries", "blobs"):
        for i in range(256):
            os.makedirs(os.path.join(root, part, f"{i:02x}"), exist_ok=True)
    now = time.time()
    samples: list[str] = []
    for i in range(entries):
        project = f"synthetic-{i // 3}"
        kind = i % 3
        if kind == 0:
            url = f"{base_url}/simple/{project}/"
            body = json.dumps(
                {"meta": {"api-version": "1.0"}, "name": project, "files": []}
            ).encode()
            headers = {"content-type": "application/vnd.pypi.simple.v1+json"}
        else:
            filename = f"{project.replace('-', '_')}-1.0-py3-none-any.whl"
            suffix = ".metadata" if kind == 1 else ""
            url = f"{base_url}/files/{filename}{suffix}"
            body = rng.randbytes(rng.randint(200, 2000))
            headers = {"content-type": "application/octet-stream"}
        sha = hashlib.sha256(body).hexdigest()
        _write(os.path.join(root, "blobs", sha[:2], sha), body)
        key = url_key(url)
        digest = hashlib.sha256(key.encode()).hexdigest()
        entry = {
            "url": key,
            "fetched": now - rng.uniform(0, 90 * 86400),
            "sha256": sha,
            "size": len(body),
            "headers": headers,
        }
        _write(
            os.path.join(root, "entries", digest[:2], digest + ".json"), json.dumps(entry).encode()
        )
        if i % 9973 == 0:
            samples.append(url)
    return samples


def grow_pip_http_cache(cache_dir: Path, entries: int, *, seed: int = 2) -> None:
    """Add ``entries`` junk entries (entry and ``.body`` files) to pip's ``http-v2`` cache."""
    rng = random.Random(seed)
    base = os.path.join(cache_dir, "http-v2")
    made: set[str] = set()
    for i in range(entries):
        name = hashlib.sha224(f"synthetic-{i}-{rng.random()}".encode()).hexdigest()
        directory = os.path.join(base, *name[:5])
        if directory not in made:
            os.makedirs(directory, exist_ok=True)
            made.add(directory)
        path = os.path.join(directory, name)
        _write(path, b"cc=4," + rng.randbytes(300))
        _write(path + ".body", rng.randbytes(rng.randint(500, 3000)))


def count_files(directory: Path) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(directory))
