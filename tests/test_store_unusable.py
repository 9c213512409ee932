"""A store pip-ff can't use is never silent, and what a killed process left in it is cleared."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pip_offline_fallback.store import STALE_TEMP_SECONDS, Store
from testbed import IndexServer, Venv
from tests.helpers import drop_venvs_after_success  # noqa: F401 - autouse fixture


def test_a_store_that_is_a_regular_file_is_said_and_fails_the_store_commands(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    store = tmp_path / "store-file"
    store.write_text("not a directory\n")
    moved = dict(env, PIPFF_STORE=str(store))
    result = venv.pipff("install", "-i", index.url, "pipff-gamma", env=moved)
    assert result.returncode == 0, result.describe()
    warnings = [line for line in result.output.splitlines() if "can't use the store" in line]
    assert len(warnings) == 1, result.describe()
    assert str(store) in warnings[0] and "not a directory" in warnings[0], warnings
    for command in (["info"], ["info", "--json"], ["check", "-i", index.url, "pipff-gamma"]):
        answer = venv.pipff("store", *command, env=moved)
        assert answer.returncode != 0, answer.describe()
        assert f"can't read the store {store}" in answer.stderr, answer.describe()
        assert "empty" not in answer.output, answer.describe()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any directory"
)
def test_an_unreadable_store_is_said(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "v1").mkdir(parents=True)
    root.chmod(0)
    try:
        store = Store(str(root))
        assert store.unreadable() is not None
        assert not store.usable()
        assert store.recorder("http://index.invalid/simple/x/", {}) is None
    finally:
        root.chmod(0o755)


def test_an_unreadable_store_is_never_taken_for_an_empty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The same, as any user: os.access says no (root is never refused by the OS itself)."""
    root = tmp_path / "store"
    (root / "v1").mkdir(parents=True)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: not str(path).startswith(str(root)))
    store = Store(str(root))
    assert store.unreadable() == f"{root}: permission denied"
    with caplog.at_level("WARNING", logger="pip_offline_fallback"):
        assert not store.usable()
        assert not store.usable()
        assert store.recorder("http://index.invalid/simple/x/", {}) is None
    said = [r.getMessage() for r in caplog.records if "can't use the store" in r.getMessage()]
    assert len(said) == 1 and str(root) in said[0], said


def test_stale_temporary_files_are_cleared_at_the_next_recording(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """A kill -9 mid-download leaves a half-received body in v1/tmp: the next process that
    records removes it once it is old enough to be no live writer's."""
    store = tmp_path / "store"
    tmp = store / "v1" / "tmp"
    tmp.mkdir(parents=True)
    stale, live = tmp / "rec-0123456789abcdef", tmp / "rec-fedcba9876543210"
    stale.write_bytes(b"half a wheel")
    live.write_bytes(b"being written")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    venv.pipff("install", "-i", index.url, "pipff-gamma", env=dict(env, PIPFF_STORE=str(store)))
    assert not stale.exists()
    assert live.exists()
