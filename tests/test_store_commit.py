"""What a commit into the record does with what is already there (in this process, no pip).

A commit must stay cheap on the online path (issue 26: a blob that already holds the bytes is
not written over) without giving up what the store promises: a damaged blob is healed by the
next good copy, and a store deleted mid-run is made again rather than silently not recorded.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from pip_offline_fallback.store import Store

URL = "https://index.example/files/pipff_alpha-1.0-py3-none-any.whl"
BODY = b"the wheel's bytes " * 1000


def _record(store: Store, url: str, body: bytes, in_memory: bool = False) -> str:
    """``in_memory``: announced as a small body (kept in memory, filed whole), else unannounced
    (a temporary file as it arrives)."""
    size = len(body) if in_memory else None
    recorder = store.recorder(url, {"content-type": "application/octet-stream"}, size=size)
    assert recorder is not None
    recorder.write(body)
    recorder.commit()
    return recorder.sha256


def _body_of(store: Store, url: str) -> bytes | None:
    entry = store.lookup(url)
    body = store.open_verified(entry) if entry is not None else None
    if body is None:
        return None
    with body:
        return body.read()


@pytest.mark.parametrize("in_memory", [False, True])
def test_the_same_bytes_again_leave_the_blob_alone(tmp_path: Path, in_memory: bool) -> None:
    store = Store(str(tmp_path / "store"))
    sha256 = _record(store, URL, BODY, in_memory)
    blob = Path(store.blob_path(sha256))
    before = blob.stat()
    first = store.lookup(URL)
    assert first is not None
    _record(store, URL, BODY, in_memory)
    after = blob.stat()
    # The same file (a link shared with pip's cache would stay one), the entry refreshed.
    assert (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev)
    again = store.lookup(URL)
    assert again is not None and again.fetched >= first.fetched
    assert not list((tmp_path / "store" / "v1" / "tmp").iterdir())  # no copy left behind
    assert _body_of(store, URL) == BODY


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_damaged_blob_is_healed_by_the_next_good_copy(tmp_path: Path, in_memory: bool) -> None:
    store = Store(str(tmp_path / "store"))
    sha256 = _record(store, URL, BODY, in_memory)
    blob = Path(store.blob_path(sha256))
    for damaged in (b"X" + BODY[1:], BODY[:-10]):  # bit rot (same size), then a short file
        blob.chmod(0o644)
        blob.write_bytes(damaged)
        assert _body_of(store, URL) is None
        _record(store, URL, BODY, in_memory)
        assert blob.read_bytes() == BODY
        assert _body_of(store, URL) == BODY


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_store_deleted_mid_run_is_made_again(tmp_path: Path, in_memory: bool) -> None:
    store = Store(str(tmp_path / "store"))
    _record(store, URL, BODY, in_memory)
    shutil.rmtree(tmp_path / "store")
    other = URL.replace("alpha-1.0", "alpha-2.0")
    _record(store, other, BODY + b"2", in_memory)
    assert _body_of(store, other) == BODY + b"2"
    assert os.path.isdir(tmp_path / "store" / "v1" / "entries")


def test_write_behind_files_off_the_callers_thread_and_reads_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(str(tmp_path / "store"), write_behind=True)
    release = threading.Event()
    filed_on: list[threading.Thread] = []
    original = Store._file_blob

    def held(self: Store, *args: Any, **kwargs: Any) -> None:
        filed_on.append(threading.current_thread())
        release.wait(60)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Store, "_file_blob", held)
    recorder = store.recorder(URL, {})
    assert recorder is not None
    recorder.write(BODY)
    recorder.commit()  # returns while the filing is held
    assert not release.is_set()
    threading.Timer(0.2, release.set).start()
    assert _body_of(store, URL) == BODY  # the lookup waited for the filing
    assert filed_on and filed_on[0] is not threading.current_thread()


def test_a_store_that_refuses_new_files_is_said_once_for_bodies_kept_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A small body gets its temporary file only when it is filed: a store where no file can be
    made (read-only, full) is said once all the same, records nothing, and fails nothing."""
    from pip_offline_fallback.store import writing

    def refuse(directory: str, prefix: str) -> tuple[int, str]:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), directory)

    monkeypatch.setattr(writing, "create_exclusive", refuse)
    store = Store(str(tmp_path / "store"))
    others = [URL.replace("alpha-1.0", f"alpha-1.{i}") for i in range(1, 4)]
    with caplog.at_level(logging.DEBUG, logger="pip_offline_fallback"):
        for url in others:
            _record(store, url, BODY, in_memory=True)
        assert store.recorder(URL, {}) is None  # a body too big for memory: as before
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "can't record into the store" in said[0], said
    assert all(store.lookup(url) is None for url in others)
