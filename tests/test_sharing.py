"""Every byte stored once: a body that pip-ff recorded and pip's HTTP cache keeps too is one file
with two names (issue 17, target 4)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from testbed import IndexServer, clone_venv, outage
from tests.helpers import warnings_about_unreachable


def _files(root: Path, pattern: str) -> dict[str, list[Path]]:
    """sha256 of the content -> the files under ``root`` that hold it."""
    found: dict[str, list[Path]] = {}
    for path in root.rglob(pattern):
        if path.is_file():
            found.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(path)
    return found


def test_what_pip_caches_too_is_stored_once(
    template: Path, tmp_path: Path, https_index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    env = dict(env, PIP_CERT=str(https_index.ca_bundle))
    online = clone_venv(template, tmp_path / "online")
    online.pipff(
        "install", "-i", https_index.url, "pipff-alpha==2.0", "pipff-gamma", env=env
    ).check()

    if not (cache_dir / "http-v2").is_dir():
        assert (cache_dir / "http").is_dir()
        pytest.skip("pip < 23.3 keeps each body inside its cache entry (http/): nothing to share")
    bodies = _files(cache_dir / "http-v2", "*.body")  # pip 23.3+: each body in a file of its own
    blobs = _files(cache_dir / "pip-ff" / "v1" / "blobs", "*")
    both = set(bodies) & set(blobs)
    # Pages, metadata and both wheels: the index sent cache headers for all of them.
    assert len(both) >= 4, (sorted(bodies), sorted(blobs))
    for sha256 in both:
        (blob,) = blobs[sha256]
        assert any(blob.samefile(body) for body in bodies[sha256]), blob
    wheel = next(https_index.dist_dir.glob("pipff_alpha-2.0-*.whl"))
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() in both

    # pip's cache drops its names; the record keeps the bytes and installs offline.
    online.pip("cache", "purge", env=env).check()
    assert not list((cache_dir / "http-v2").rglob("*.body"))
    offline = clone_venv(template, tmp_path / "offline")
    with outage("refused", https_index):
        result = offline.pipff(
            "install", "-i", https_index.url, "pipff-alpha==2.0", "pipff-gamma", env=env
        )
    assert result.returncode == 0, result.output
    assert offline.installed() == online.installed()
    assert len(warnings_about_unreachable(result.output)) == 1, result.output
