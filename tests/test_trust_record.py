"""Trust, round 3 (issue 24): no path overwrites a good record, and a broken key fails closed.

- A redirect (a portal's ``302 /login``, a CDN's opaque ``/objects/<id>``) never replaces a
  recorded file with something that can't be that file, whatever URL the answer came from.
- Other bytes under a file's own URL never replace the recorded ones.
- A body that contradicts the hash its index page lists is never recorded, and a recorded copy
  that contradicts it gives way to one that matches; ``store info``, ``store check`` and
  ``store prune --damaged`` see such an entry.
- With no usable key, answers fetched with credentials are neither recorded nor served.

Each runs real pip-ff against the test bed's index on loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pip_offline_fallback.store import Store
from pip_offline_fallback.urls import url_key
from testbed import IndexServer, ProjectSet, Venv, build_wheel, clone_venv, outage
from tests.helpers import (
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
)

WHEEL = "pipff_gamma-1.0-py3-none-any.whl"
LOGIN = b"<html><body><form action='/login'><input type='password'></form></body></html>"
SECRET = "pipff-s3cr3t-t0ken"


class AnsweringIndex(IndexServer):
    """An IndexServer with fixed answers for some paths: ``answers[path]`` is a list of
    ``(content type, body)`` given in turn, the last one for good (a portal's login page, a
    CDN's object URL). ``redirects`` (the IndexServer's own) still come first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: dict[str, list[tuple[str, bytes]]] = {}
        self._answers_lock = threading.Lock()

    def handle(self, handler: Any, *, head: bool) -> None:
        path = urlsplit(handler.path).path
        with self._answers_lock:
            queue = self.answers.get(path)
            answer = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else None
        if answer is None or handler.path in self.redirects:
            super().handle(handler, head=head)
            return
        self.requests.append((handler.command, handler.path))
        content_type, body = answer
        self._send(handler, HTTPStatus.OK, body, content_type, head=head)


@pytest.fixture
def answering(dists: ProjectSet, tmp_path: Path) -> Iterator[AnsweringIndex]:
    view = tmp_path / "answering-dists"
    view.mkdir()
    for source in dists.dist_dir.iterdir():
        (view / source.name).symlink_to(source)
    with AnsweringIndex(view, yanked=dists.yanked) as server:
        yield server


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entries(cache_dir: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in (cache_dir / "pip-ff" / "v1").glob("entries/*/*.json"):
        entry = json.loads(path.read_text())
        found[entry["url"]] = entry
    return found


def _recorded_sha256(cache_dir: Path, url: str) -> str | None:
    entry = _entries(cache_dir).get(url_key(url))
    return str(entry["sha256"]) if entry else None


def _download(venv: Venv, env: dict[str, str], dest: Path, *args: str) -> bytes:
    """The bytes of the one file ``pip-ff download`` gets for ``args``."""
    venv.pipff("download", "--no-deps", "-d", dest, *args, env=env).check()
    (path,) = dest.iterdir()
    return path.read_bytes()


def _other_gamma(tmp_path: Path) -> bytes:
    """A valid wheel with pipff-gamma 1.0's file name and other bytes."""
    other = build_wheel(
        tmp_path / "other", "pipff-gamma", "1.0", modules={"pipff_gamma/__init__.py": "X = 1\n"}
    )
    return other.read_bytes()


# -- redirects and other bytes never replace a recorded file -----------------------------------


@pytest.mark.parametrize("what", ["file", "page"])
def test_a_redirect_to_a_login_page_never_replaces_a_recorded_answer(
    what: str,
    template: Path,
    tmp_path: Path,
    answering: AnsweringIndex,
    env: dict[str, str],
    cache_dir: Path,
) -> None:
    index = answering
    url = index.file_url(WHEEL) if what == "file" else index.project_url("pipff-gamma")
    clone_venv(template, tmp_path / "warm").pipff(
        "install", "-i", index.url, "pipff-gamma", env=env
    ).check()
    recorded = _recorded_sha256(cache_dir, url)
    assert recorded is not None

    # A captive portal: the URL answers 302 to /login, a 200 text/html login page.
    index.redirects[urlsplit(url).path] = "/login"
    index.answers["/login"] = [("text/html; charset=utf-8", LOGIN)]
    portal = clone_venv(template, tmp_path / "portal")
    result = portal.pipff("install", "-i", index.url, "pipff-gamma", env=env)
    assert "login page?" in result.output, result.describe()
    assert result.returncode == 0, result.describe()  # the recorded copy answered
    assert _recorded_sha256(cache_dir, url) == recorded, result.describe()
    assert not [u for u in _entries(cache_dir) if u.endswith("/login")]

    dry = portal.pipff("store", "prune", "--dry-run", "--json", env=env).check()
    offered = [r["path"] for r in json.loads(dry.stdout)["removed"]]
    assert not [p for p in offered if p.endswith(recorded)], offered
    offline = clone_venv(template, tmp_path / "offline")
    with outage("refused", index):
        later = offline.pipff("install", "-i", index.url, "pipff-gamma", env=env)
    assert later.returncode == 0, later.describe()


@pytest.mark.parametrize("via", ["own-url", "opaque-cdn-url"])
def test_other_bytes_under_a_recorded_files_url_never_replace_it(
    via: str,
    venv: Venv,
    tmp_path: Path,
    answering: AnsweringIndex,
    env: dict[str, str],
    cache_dir: Path,
) -> None:
    """A direct URL (no index page, so no hash to check against): the file is recorded, then
    the same URL (itself, or the CDN object it redirects to) serves other bytes."""
    index = answering
    url = index.file_url(WHEEL)
    genuine = (index.dist_dir / WHEEL).read_bytes()
    path = urlsplit(url).path
    if via == "opaque-cdn-url":
        index.redirects[path] = "/objects/7f3a9c"
        path = "/objects/7f3a9c"
    index.answers[path] = [("application/octet-stream", genuine)]
    assert _download(venv, env, tmp_path / "d1", url) == genuine
    assert _recorded_sha256(cache_dir, url) == _sha256(genuine)

    index.answers[path] = [("application/octet-stream", _other_gamma(tmp_path))]
    result = venv.pipff("download", "--no-deps", "-d", tmp_path / "d2", url, env=env)
    assert result.returncode == 0, result.describe()  # plain pip takes them too: no hash
    assert "came with other bytes than recorded before" in result.output, result.describe()
    assert _recorded_sha256(cache_dir, url) == _sha256(genuine)
    with outage("refused", index):
        assert _download(venv, env, tmp_path / "d3", url) == genuine


def test_a_redirect_to_a_login_page_is_never_recorded_as_the_file(
    venv: Venv, tmp_path: Path, answering: AnsweringIndex, env: dict[str, str], cache_dir: Path
) -> None:
    """No record yet, and no index page to say the file's hash: the portal's page is still
    never recorded as the file (the file was asked for, whatever URL answered)."""
    index = answering
    url = index.file_url(WHEEL)
    index.redirects[urlsplit(url).path] = "/login"
    index.answers["/login"] = [("text/html", LOGIN)]
    result = venv.pipff("download", "--no-deps", "-d", tmp_path / "d1", url, env=env)
    assert result.returncode != 0, result.describe()
    assert _recorded_sha256(cache_dir, url) is None, result.describe()
    assert not [u for u in _entries(cache_dir) if u.endswith("/login")]

    del index.redirects[urlsplit(url).path]
    genuine = (index.dist_dir / WHEEL).read_bytes()
    assert _download(venv, env, tmp_path / "d2", url) == genuine
    assert _recorded_sha256(cache_dir, url) == _sha256(genuine)


# -- the index page's hash decides --------------------------------------------------------------


def _plant(cache_dir: Path, url: str, body: bytes) -> None:
    """The record of ``url`` now holds ``body`` (as a portal's answer once could have been
    recorded), its entry's sha256 and size made to match."""
    root = cache_dir / "pip-ff" / "v1"
    key = _sha256(url_key(url).encode("utf-8"))
    path = root / "entries" / key[:2] / f"{key}.json"
    entry = json.loads(path.read_text())
    blob = root / "blobs" / _sha256(body)[:2] / _sha256(body)
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(body)
    entry.update(sha256=_sha256(body), size=len(body))
    path.write_text(json.dumps(entry))


def test_a_body_that_contradicts_the_index_pages_hash_is_never_kept(
    template: Path, tmp_path: Path, answering: AnsweringIndex, env: dict[str, str], cache_dir: Path
) -> None:
    index = answering
    url = index.file_url(WHEEL)
    genuine = (index.dist_dir / WHEEL).read_bytes()
    # No record yet; a portal answers the wheel's URL once, labelled as a file.
    index.answers[urlsplit(url).path] = [("application/octet-stream", LOGIN)]
    first = clone_venv(template, tmp_path / "first")
    result = first.pipff("install", "-i", index.url, "pipff-gamma", env=env)
    assert result.returncode != 0, result.describe()  # pip's hash check, as plain pip
    assert _recorded_sha256(cache_dir, url) is None, result.describe()

    # The index is back: the good wheel is recorded and serves offline.
    index.answers.clear()
    clone_venv(template, tmp_path / "second").pipff(
        "install", "-i", index.url, "pipff-gamma", env=env
    ).check()
    assert _recorded_sha256(cache_dir, url) == _sha256(genuine)

    # A recorded copy that contradicts the page: reported, and it gives way to the index's.
    _plant(cache_dir, url, LOGIN)
    checker = clone_venv(template, tmp_path / "checker")
    info = json.loads(checker.pipff("store", "info", "--json", env=env).check().stdout)
    assert [d["url"] for d in info["damaged"]] == [url_key(url)], info["damaged"]
    assert "index page" in info["damaged"][0]["problem"]
    check = checker.pipff("store", "check", "--json", "-i", index.url, "pipff-gamma", env=env)
    assert check.returncode == 1, check.describe()
    assert json.loads(check.stdout)["damaged"] == [url_key(url)], check.describe()
    clone_venv(template, tmp_path / "third").pipff(
        "install", "-i", index.url, "pipff-gamma", env=env
    ).check()
    assert _recorded_sha256(cache_dir, url) == _sha256(genuine)

    _plant(cache_dir, url, LOGIN)
    pruned = checker.pipff("store", "prune", "--damaged", "--json", env=env).check()
    removed = [r["entry"]["url"] for r in json.loads(pruned.stdout)["removed"] if r.get("entry")]
    assert removed == [url_key(url)], pruned.stdout
    assert _recorded_sha256(cache_dir, url) is None


# -- a broken key fails closed ------------------------------------------------------------------


def test_an_unusable_key_neither_records_nor_serves_credentialed_answers(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    key = cache_dir / "pip-ff" / "v1" / "key"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"")  # emptied (a full disk, a bad restore)
    index.credentials = ("alice", SECRET)
    alice = f"http://alice:{SECRET}@127.0.0.1:{index.port}/simple/"
    mallory = f"http://mallory:guess@127.0.0.1:{index.port}/simple/"
    warm = clone_venv(template, tmp_path / "warm")
    result = warm.pipff("install", "-i", alice, "pipff-gamma", env=env)
    assert result.returncode == 0, result.describe()
    warnings = [line for line in result.output.splitlines() if "store key" in line]
    assert len(warnings) == 1, result.describe()
    assert not _entries(cache_dir), sorted(_entries(cache_dir))
    with outage("refused", index):
        stolen = clone_venv(template, tmp_path / "mallory")
        refused = stolen.pipff("install", "-i", mallory, "pipff-gamma", env=env)
    assert refused.returncode != 0, refused.describe()
    assert "pipff-gamma" not in stolen.installed()
    assert SECRET not in result.output


def test_a_record_made_under_the_unknown_identity_is_served_to_no_one(tmp_path: Path) -> None:
    """Stores written before the fix hold entries with identity "unknown"; the one case a
    broken key could match them: never."""
    store = Store(str(tmp_path / "store"))
    url = "http://index.invalid/files/" + WHEEL
    recorder = store.recorder(url, {}, identity="unknown")
    assert recorder is not None
    recorder.write(b"private")
    recorder.commit()
    os.makedirs(tmp_path / "store" / "v1" / "key")  # a directory where the key should be
    assert store.identity("Basic bWFsbG9yeTpndWVzcw==") is not None
    assert store.lookup(url, store.identity("Basic bWFsbG9yeTpndWVzcw==")) is None
    assert store.lookup(url) is None


# -- each identity has its own entry ------------------------------------------------------------


def test_an_anonymous_answer_never_replaces_a_credentialed_record(
    template: Path, tmp_path: Path, dists: ProjectSet, env: dict[str, str]
) -> None:
    """alice records gamma from a private view of the index; the anonymous view serves other
    bytes under the same URL, and its page lists them. Offline, alice still gets her bytes (she
    used to get the anonymous ones), and the anonymous answer is kept beside hers."""
    view = tmp_path / "private-dists"
    view.mkdir()
    for source in dists.dist_dir.iterdir():
        (view / source.name).symlink_to(source)
    genuine = (view / WHEEL).read_bytes()
    other = _other_gamma(tmp_path)
    with IndexServer(view, yanked=dists.yanked) as index:
        index.credentials = ("alice", SECRET)
        alice = f"http://alice:{SECRET}@127.0.0.1:{index.port}/simple/"
        clone_venv(template, tmp_path / "alice").pipff(
            "install", "-i", alice, "pipff-gamma", env=env
        ).check()
        (view / WHEEL).unlink()
        (view / WHEEL).write_bytes(other)
        index.credentials = None
        clone_venv(template, tmp_path / "public").pipff(
            "install", "-i", index.url, "pipff-gamma", env=env
        ).check()
        reports = {who: tmp_path / f"{who}.json" for who in ("alice", "anonymous")}
        with outage("refused", index):
            for who, url in (("alice", alice), ("anonymous", index.url)):
                venv = clone_venv(template, tmp_path / f"offline-{who}")
                result = venv.pipff(
                    "install", "-i", url, "--fallback-report", str(reports[who]), "pipff-gamma",
                    env=env,
                )  # fmt: skip
                assert result.returncode == 0, result.describe()
    served = {
        who: [d["sha256"] for d in json.loads(path.read_text())["distributions"]]
        for who, path in reports.items()
    }
    assert served == {"alice": [_sha256(genuine)], "anonymous": [_sha256(other)]}, served


def test_a_credentialed_entry_an_older_record_filed_anonymously_is_kept(tmp_path: Path) -> None:
    """Records made before each identity had its own entry hold a credentialed entry in the
    URL's anonymous file: an anonymous answer moves it to its own file, never over it."""
    store = Store(str(tmp_path / "store"))
    url = "http://index.invalid/files/" + WHEEL
    alice = store.identity("Basic YWxpY2U6czNjcmV0")
    recorder = store.recorder(url, {}, identity=alice)
    assert recorder is not None
    recorder.write(b"alice's")
    recorder.commit()
    (own,) = (tmp_path / "store" / "v1" / "entries").glob("*/*-*.json")
    legacy = own.with_name(own.name.split("-")[0] + ".json")
    own.rename(legacy)
    assert store.lookup(url, alice) is not None and store.lookup(url) is None
    store.expect(url, _sha256(b"anonymous"))
    recorder = store.recorder(url, {}, identity=None)
    assert recorder is not None
    recorder.write(b"anonymous")
    recorder.commit()
    again = Store(str(tmp_path / "store"))
    mine, theirs = again.lookup(url, again.identity("Basic YWxpY2U6czNjcmV0")), again.lookup(url)
    assert mine is not None and mine.sha256 == _sha256(b"alice's")
    assert theirs is not None and theirs.sha256 == _sha256(b"anonymous")
