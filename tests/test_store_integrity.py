"""The record's guarantees, in this process (issue 24): what may replace a recorded answer,
what a key that can't be read turns off, ``v1`` as a symbolic link, and the admin commands on a
store that is read-only or holds a killed run's temporary file.

The same guarantees end to end are in tests/test_trust_record.py.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pip_offline_fallback import cli, config, storecmd
from pip_offline_fallback.errors import UsageError
from pip_offline_fallback.store import Store
from pip_offline_fallback.store.inventory import scan
from pip_offline_fallback.store.prune import PrunePolicy, prune
from pip_offline_fallback.storekey import NO_KEY

URL = "http://index.invalid/files/pipff_gamma-1.0-py3-none-any.whl"
ALICE = "Basic YWxpY2U6czNjcjN0"
MALLORY = "Basic bWFsbG9yeTpndWVzcw=="


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _record(store: Store, url: str, body: bytes, identity: str | None = None) -> bool:
    """Record ``body`` as ``url``'s answer; whether it is now the recorded one."""
    recorder = store.recorder(url, {"Content-Type": "application/octet-stream"}, identity)
    if recorder is None:
        return False
    recorder.write(body)
    recorder.commit()
    entry = store.any_entry(url, identity)  # that identity's own entry
    return entry is not None and entry.sha256 == _sha256(body)


# -- what may replace a recorded file -----------------------------------------------------------


def test_other_bytes_never_replace_a_recorded_file(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    assert _record(store, URL, b"genuine")
    assert not _record(store, URL, b"a portal's page")
    # A page's answers may change (a new release): only a file's bytes never do.
    page = "http://index.invalid/simple/pipff-gamma/"
    assert _record(store, page, b"<a>1.0</a>") and _record(store, page, b"<a>1.1</a>")


def test_an_anonymous_fetch_never_replaces_a_credentialed_record(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    alice = store.identity(ALICE)
    assert alice is not None and alice != NO_KEY
    assert _record(store, URL, b"private wheel", alice)
    assert not _record(store, URL, b"public look-alike")  # anonymous
    entry = store.lookup(URL, alice)
    assert entry is not None and entry.sha256 == _sha256(b"private wheel")
    assert store.lookup(URL) is None  # still served to alice only


def test_the_index_pages_hash_decides(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(str(tmp_path / "store"))
    assert _record(store, URL, b"a portal's page")  # recorded before any page was seen
    store.expect(URL + "#sha256=" + _sha256(b"genuine").upper(), _sha256(b"genuine").upper())
    entry = store.lookup(URL)
    assert entry is not None and store.open_verified(entry) is None  # never served
    assert store.damaged == [entry.url]
    with caplog.at_level(logging.WARNING):
        assert not _record(store, URL, b"another portal's page")
    assert "contradict the hash its index page lists" in caplog.text
    assert _record(store, URL, b"genuine")  # the recorded copy gives way to the matching one
    entry = store.lookup(URL)
    assert entry is not None and store.open_verified(entry) is not None


def test_an_alias_is_held_to_the_same_rules(tmp_path: Path) -> None:
    """A link that redirected (a CDN's object URL) is filed under its own URL too: never over
    other bytes, never against its page's hash."""
    store = Store(str(tmp_path / "store"))
    cdn = "http://cdn.invalid/objects/7f3a9c"
    assert _record(store, cdn, b"genuine") and store.alias(URL, cdn)
    assert _record(store, cdn, b"other bytes")  # an opaque URL: its own entry may change
    assert not store.alias(URL, cdn)
    entry = store.lookup(URL)
    assert entry is not None and entry.sha256 == _sha256(b"genuine")
    other = "http://index.invalid/files/pipff_alpha-1.0-py3-none-any.whl"
    store.expect(other, _sha256(b"alpha"))
    assert not store.alias(other, cdn) and store.lookup(other) is None


# -- a key that can't be read -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["empty", "directory", "symlink", "short"])
def test_an_unusable_key_records_and_serves_nothing_credentialed(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "store"
    before = Store(str(root))
    alice = before.identity(ALICE)
    assert _record(before, URL, b"private wheel", alice)
    key = root / "v1" / "key"
    saved = key.read_bytes()
    key.unlink()
    if kind == "empty":
        key.write_bytes(b"")
    elif kind == "directory":
        key.mkdir()
    elif kind == "symlink":
        (tmp_path / "elsewhere").write_bytes(saved)
        key.symlink_to(tmp_path / "elsewhere")
    else:
        key.write_bytes(saved[:16])

    store = Store(str(root))
    with caplog.at_level(logging.WARNING):
        identities = {store.identity(ALICE), store.identity(MALLORY)}
    assert identities == {NO_KEY}
    assert len([r for r in caplog.records if "store key" in r.getMessage()]) == 1
    assert store.lookup(URL, NO_KEY) is None  # alice's data, to no one
    planted = "http://index.invalid/files/pipff_planted-1.0-py3-none-any.whl"
    blob = store.blob_path(_sha256(b"private wheel"))
    store._write_entry(planted, {}, Path(blob).name, len(b"private wheel"), NO_KEY)
    assert store.lookup(planted, NO_KEY) is None  # not even an entry that claims the sentinel
    page = "http://index.invalid/simple/pipff-gamma/"
    assert store.recorder(page, {}, NO_KEY) is None
    assert not _record(store, page, b"<a>1.0</a>", NO_KEY)
    assert store.any_entry(page) is None
    # Anonymous answers are unaffected: they need no key.
    assert store.identity(None) is None and _record(store, page, b"<a>1.0</a>")


# -- v1 as a symbolic link ----------------------------------------------------------------------


def test_v1_as_a_symbolic_link_is_never_followed_anywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = Store(str(tmp_path / "elsewhere"))
    assert _record(elsewhere, URL, b"genuine")
    root = tmp_path / "store"
    root.mkdir()
    (root / "v1").symlink_to(tmp_path / "elsewhere" / "v1", target_is_directory=True)

    store = Store(str(root))
    with caplog.at_level(logging.WARNING):
        assert not store.has(URL) and store.lookup(URL) is None
        assert not store.knows_host_of(URL) and store.identity(ALICE) == NO_KEY
        assert store.recorder(URL, {}) is None
    assert len([r for r in caplog.records if "is a symbolic link" in r.getMessage()]) == 1

    def run(*args: str) -> tuple[int, str]:
        status = storecmd.main([*args, "--store", str(root)], run_pip=lambda a: 1)
        out = capsys.readouterr()
        return status, out.out + out.err

    status, text = run("info")
    assert status == 0 and "v1 is a symbolic link" in text and "empty" not in text, text
    status, text = run("prune", "--dry-run")
    assert status == 0 and "1 symbolic link" in text, text
    status, text = run("prune")
    assert status == 0 and "Traceback" not in text, text
    assert not (root / "v1").exists() and not (root / "v1").is_symlink()
    assert (tmp_path / "elsewhere" / "v1" / "entries").is_dir()  # never its target
    assert elsewhere.lookup(URL) is not None


# -- the admin commands -------------------------------------------------------------------------


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Directories under which every write fails with EROFS, as on a read-only mount (the tests
    run as root here, which no chmod stops)."""
    roots: list[str] = []
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT
    real_mkdir = os.mkdir

    def refuse(original: Callable[..., Any], check_flags: bool = False) -> Callable[..., Any]:
        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            text = os.path.abspath(os.fsdecode(path)) if isinstance(path, (str, Path)) else ""
            inside = any(text.startswith(root + os.sep) for root in roots)
            if inside and (not check_flags or int(args[0] if args else kwargs["flags"]) & writes):
                # An existing directory: EEXIST, which the kernel says before EROFS.
                exists = original is real_mkdir and os.path.lexists(text)
                code = errno.EEXIST if exists else errno.EROFS
                raise OSError(code, os.strerror(code), text)
            return original(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "open", refuse(os.open, check_flags=True))
    for name in ("unlink", "mkdir", "rename", "replace", "rmdir"):
        monkeypatch.setattr(os, name, refuse(getattr(os, name)))
    yield roots


def test_prune_on_a_read_only_store_says_so_in_one_line(
    tmp_path: Path, read_only: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    store = Store(str(root))
    assert _record(store, URL, b"genuine")
    (root / "v1" / "lock").unlink()
    read_only.append(str(root))
    status = storecmd.main(["prune", "--store", str(root)], run_pip=lambda a: 1)
    err = capsys.readouterr().err
    assert status == 1, err
    assert err.count("\n") == 1 and err.startswith("ERROR: pip-ff: can't prune"), err
    assert "Read-only file system" in err
    assert store.lookup(URL) is not None


def test_store_info_and_prune_agree_about_temporary_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a kill -9 mid-download: info must not promise what prune won't do yet."""
    root = tmp_path / "store"
    store = Store(str(root))
    assert _record(store, URL, b"genuine")
    left = Path(store.tmp_directory()) / "rec-killed"
    left.write_bytes(b"half a wheel")

    def info() -> str:
        assert storecmd.main(["info", "--store", str(root)], run_pip=lambda a: 1) == 0
        return capsys.readouterr().out

    text = info()
    assert "once they are an hour old" in text, text
    assert "temporary files: 1" in text and "stale" not in text, text
    assert prune(store, PrunePolicy()).count("temp") == 0 and left.exists()
    old = time.time() - 2 * 3600
    os.utime(left, (old, old))
    assert "stale temporary files: 1" in info()
    assert prune(store, PrunePolicy()).count("temp") == 1 and not left.exists()
    assert scan(store).temps == []


@pytest.mark.parametrize("value", ["7days", "0s", "garbage"])
def test_an_invalid_max_stale_variable_is_an_error(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError, match="PIPFF_MAX_STALE"):
        config.settings_from_environ({"PIPFF_MAX_STALE": value}, default=config.Mode.AUTO)
    monkeypatch.setenv("PIPFF_MAX_STALE", value)
    assert cli.main(["install", "pipff-never-installed"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: pip-ff: PIPFF_MAX_STALE must be"), err
    # The flag wins over the variable, as for every other setting.
    options, _ = cli.split_args(["--max-stale", "7d", "install", "x"])
    settings = cli.resolve(options, {"PIPFF_MAX_STALE": value})
    assert settings is not None and settings.max_stale == 7 * 86400


def test_what_a_recorded_page_lists_decides_for_store_info_and_prune(tmp_path: Path) -> None:
    """``store info`` and ``prune --damaged`` read the recorded pages (HTML or JSON, relative
    links too) for the hashes they list; a file that contradicts them is damaged."""
    store = Store(str(tmp_path / "store"))
    base = "http://index.invalid/simple/"
    good, bad = b"good wheel", b"a portal's page"
    html = (
        f'<a href="../../files/pipff_alpha-1.0-py3-none-any.whl#sha256={_sha256(good)}">a</a>'
        f'<a href="/files/pipff_beta-1.0-py3-none-any.whl#md5=00&amp;sha256={_sha256(good)}">'
        "b</a><a href='/files/pipff_gamma-1.0.tar.gz'>no hash: nothing to say</a>"
    )
    json_page = (
        '{"files": [{"filename": "pipff_zeta-1.0-py3-none-any.whl", "url": '
        f'"/files/pipff_zeta-1.0-py3-none-any.whl", "hashes": {{"sha256": "{_sha256(good)}"}}}}]}}'
    )
    recorder = store.recorder(base + "pipff-alpha/", {"Content-Type": "text/html"})
    assert recorder is not None
    recorder.write(html.encode())
    recorder.commit()
    recorder = store.recorder(base + "pipff-zeta/", {"Content-Type": "application/json"})
    assert recorder is not None
    recorder.write(json_page.encode())
    recorder.commit()
    files = "http://index.invalid/files/"
    assert _record(store, files + "pipff_alpha-1.0-py3-none-any.whl", good)
    for name in ("pipff_beta-1.0-py3-none-any.whl", "pipff_zeta-1.0-py3-none-any.whl"):
        assert _record(store, files + name, bad)
    assert _record(store, files + "pipff_gamma-1.0.tar.gz", bad)

    damaged = {i.filename: i.problem for i in scan(store, verify=True).damaged}
    assert damaged == dict.fromkeys(
        ("pipff_beta-1.0-py3-none-any.whl", "pipff_zeta-1.0-py3-none-any.whl"),
        "contradicts the hash its index page lists",
    )
    assert scan(store).damaged == []  # sizes only: it takes reading the pages
    removed = prune(store, PrunePolicy(damaged=True))
    assert removed.count("entry") == 2 and removed.count("blob") == 0  # gamma keeps the blob
    assert store.lookup(files + "pipff_alpha-1.0-py3-none-any.whl") is not None
    assert store.lookup(files + "pipff_beta-1.0-py3-none-any.whl") is None
