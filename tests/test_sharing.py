"""Every byte stored once: a body that pip-ff recorded and pip's HTTP cache keeps too is one file
with two names (issue 17, target 4)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from pip_offline_fallback import compat
from pip_offline_fallback.sharing import share_with_pip_cache
from pip_offline_fallback.store import Store
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


# -- in this process ----------------------------------------------------------------------------


def _stored(store: Store, url: str, body: bytes) -> str:
    recorder = store.recorder(url, {})
    assert recorder is not None
    recorder.write(body)
    recorder.commit()
    return recorder.sha256


def test_only_a_regular_file_with_the_recorded_bytes_is_shared(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "pip-cache" / "pip-ff"))
    pip_cache = tmp_path / "pip-cache"
    files = {
        name: f"https://index.invalid/files/pipff_{name}-1.0-py3-none-any.whl"
        for name in ("same", "other", "planted")
    }
    recorded = [
        (url, _stored(store, url, b"wheel " + name.encode())) for name, url in files.items()
    ]

    def body_path(url: str) -> Path:
        path = Path(compat.http_cache_path(str(pip_cache / "http-v2"), url) + ".body")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    body_path(files["same"]).write_bytes(b"wheel same")
    body_path(files["other"]).write_bytes(b"wheel OTHER")  # the same size, other bytes
    decoy = tmp_path / "decoy"
    decoy.write_bytes(b"wheel planted")  # the recorded bytes, behind a symbolic link
    body_path(files["planted"]).symlink_to(decoy)

    assert share_with_pip_cache(store, str(pip_cache), recorded) == 1
    blobs = {name: Path(store.blob_path(sha256)) for name, (_, sha256) in zip(files, recorded)}
    assert blobs["same"].samefile(body_path(files["same"]))
    assert not blobs["other"].samefile(body_path(files["other"]))
    assert not blobs["planted"].is_symlink() and not blobs["planted"].samefile(decoy)
    for name, (url, _) in zip(files, recorded):
        entry = store.lookup(url)
        assert entry is not None
        with store.open_verified(entry) as body:
            assert body.read() == b"wheel " + name.encode()
    assert not list(Path(store.tmp_directory()).iterdir())
    # Once shared, a second pass has nothing to do (and hashes nothing).
    assert share_with_pip_cache(store, str(pip_cache), recorded) == 0


def test_a_blob_is_never_made_private_by_sharing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pip's cache files are 0600 (a NamedTemporaryFile); a blob of a store others may read is
    0644 and must stay readable to them. Where the store is private anyway, sharing goes on."""
    shared_root = Path(tempfile.mkdtemp(prefix="pipff-shared-"))  # not under a 0700 directory
    try:
        shared_root.chmod(0o755)
        for root, shared in ((shared_root, False), (tmp_path, True)):
            pip_cache = root / "pip-cache"
            store = Store(str(pip_cache / "pip-ff"))
            url = "https://index.invalid/files/pipff_same-1.0-py3-none-any.whl"
            sha256 = _stored(store, url, b"wheel same")
            blob = Path(store.blob_path(sha256))
            blob.chmod(0o644)
            body = Path(compat.http_cache_path(str(pip_cache / "http-v2"), url) + ".body")
            body.parent.mkdir(parents=True)
            body.write_bytes(b"wheel same")
            body.chmod(0o600)
            assert share_with_pip_cache(store, str(pip_cache), [(url, sha256)]) == int(shared)
            assert blob.samefile(body) is shared
            assert stat.S_IMODE(blob.stat().st_mode) == (0o600 if shared else 0o644)
    finally:
        shutil.rmtree(shared_root)

    # A blob that can't be read (another user's private one) is said, not silently skipped.
    store = Store(str(tmp_path / "pip-cache" / "pip-ff"))
    entry = store.lookup("https://index.invalid/files/pipff_same-1.0-py3-none-any.whl")
    assert entry is not None
    real_open = os.open

    def denied(path: str, *args: int) -> int:
        if path == entry.blob:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args)

    with caplog.at_level(logging.WARNING), pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "open", denied)
        assert store.open_verified(entry) is None
    assert "Permission denied" in caplog.text, caplog.text
