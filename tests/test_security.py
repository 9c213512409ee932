"""Security: what the fallback must never do, whatever the network or the local files say.

- Credentials in an index URL never reach the output, pip's log, pip-ff's report or its record;
  a --fallback-index-url's own still reach that mirror, as basic auth.
- Hash-checking mode is never weakened: a wrong ``--hash`` fails offline as online, even when
  the local copy and the recorded page were tampered with to agree with each other.
- What was recorded for one index is never served for another (no dependency confusion through
  the record), and a record entry planted under another URL's name, or a symbolic link planted
  in the record, is never followed.
- A wheelhouse entry that leads out of the wheelhouse (a symbolic link to a file elsewhere, a
  dangling link, a directory) is refused; links within it are fine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pip_offline_fallback.urls import url_key
from testbed import (
    IndexServer,
    ProjectSet,
    Result,
    Venv,
    build_wheel,
    clone_venv,
    closed_port_url,
    outage,
)
from tests.helpers import (
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
)

SECRET = "pipff-s3cr3t-t0ken"


@pytest.fixture
def own_index(dists: ProjectSet, tmp_path: Path) -> Iterator[IndexServer]:
    """An index over real copies of the standard projects (tests here may tamper with them)."""
    dest = tmp_path / "own-dists"
    dest.mkdir()
    for source in dists.dist_dir.iterdir():
        shutil.copyfile(source, dest / source.name)
    with IndexServer(dest, yanked=dists.yanked) as server:
        yield server


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pipff_versions(venv: Venv) -> dict[str, str]:
    return {k: v for k, v in venv.installed().items() if k.startswith("pipff-")}


def _entries(cache: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    found = {}
    for path in (cache / "pip-ff" / "v1").glob("entries/*/*.json"):
        entry = json.loads(path.read_text())
        found[entry["url"]] = (path, entry)
    return found


def _blob(cache: Path, sha256: str) -> Path:
    return cache / "pip-ff" / "v1" / "blobs" / sha256[:2] / sha256


def _entry_path(cache: Path, url: str) -> Path:
    key = _sha256(url_key(url).encode("utf-8"))
    return cache / "pip-ff" / "v1" / "entries" / key[:2] / f"{key}.json"


def _replace_body(cache: Path, url: str, body: bytes) -> None:
    """The record of ``url`` now says ``body``, with its sha256 and size made to match."""
    path, entry = _entries(cache)[url]
    sha256 = _sha256(body)
    blob = _blob(cache, sha256)
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(body)
    entry.update(sha256=sha256, size=len(body))
    path.write_text(json.dumps(entry))


def _no_local_copy(result: Result, project: str) -> bool:
    return any(
        line.startswith("ERROR: pip-ff: no local copy satisfies") and project in line
        for line in result.output.splitlines()
    )


# -- credentials --------------------------------------------------------------------------------


def test_credentials_never_leak(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """user:secret in the index URL (the index ignores auth), online then offline, success and
    failure, with pip's log file and pip-ff's JSON report: the secret is nowhere to be found."""
    url = f"http://user:{SECRET}@127.0.0.1:{index.port}/simple/"
    requirements = ["pipff-alpha==2.0", "pipff-sdistonly"]  # build isolation: a child pip too
    online = clone_venv(template, tmp_path / "online")
    outputs = [
        online.pipff(
            "install", "-v", "--log", tmp_path / "online.log",
            "--fallback-report", tmp_path / "online.json", "-i", url, *requirements, env=env,
        ).check()
    ]  # fmt: skip
    offline = clone_venv(template, tmp_path / "offline")
    with outage("refused", index):
        outputs.append(
            offline.pipff(
                "install", "-v", "--log", tmp_path / "offline.log",
                "--fallback-report", tmp_path / "offline.json", "-i", url, *requirements, env=env,
            ).check()
        )  # fmt: skip
        failed = offline.pipff(
            "install", "-v", "--log", tmp_path / "failed.log", "--retries", "0",
            "--fallback-report", tmp_path / "failed.json", "-i", url, "pipff-zeta==1.0", env=env,
        )  # fmt: skip
        assert failed.returncode != 0 and _no_local_copy(failed, "pipff-zeta"), failed.describe()
        outputs.append(failed)
        offline_mode = offline.pipff(
            "install", "--offline", "-v", "--log", tmp_path / "offline-mode.log",
            "-i", url, "pipff-zeta==1.0", env=env,
        )  # fmt: skip
        assert offline_mode.returncode != 0, offline_mode.describe()
        outputs.append(offline_mode)
    assert _pipff_versions(offline) == _pipff_versions(online)
    basic = base64.b64encode(f"user:{SECRET}".encode()).decode()
    for result in outputs:
        assert SECRET not in result.output and basic not in result.output, result.describe()
    cache = Path(env["PIP_CACHE_DIR"])
    assert _entries(cache)  # the record was written (and is searched below)
    written = [
        *tmp_path.glob("*.log"),
        *tmp_path.glob("*.json"),
        *(p for p in cache.rglob("*") if p.is_file()),
    ]
    assert len(list(tmp_path.glob("*.log"))) == 4 and len(list(tmp_path.glob("*.json"))) == 3
    leaks = [
        p for p in written if SECRET.encode() in p.read_bytes() or basic.encode() in p.read_bytes()
    ]
    assert not leaks


class AuthIndex(IndexServer):
    """An IndexServer that notes the Authorization header of every request (and ignores it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.authorizations: list[str | None] = []

    def handle(self, handler: Any, *, head: bool) -> None:
        self.authorizations.append(handler.headers.get("Authorization"))
        super().handle(handler, head=head)


def test_fallback_index_credentials_never_leak(
    template: Path, tmp_path: Path, index: IndexServer, own_index: IndexServer, env: dict[str, str]
) -> None:
    """The same for a --fallback-index-url with credentials, asked while the primary is down:
    the mirror gets them (as basic auth), the output, log, report and record never do."""
    basic = base64.b64encode(f"mirror-user:{SECRET}".encode()).decode()
    with AuthIndex(own_index.dist_dir) as mirror_index:
        mirror = f"http://mirror-user:{SECRET}@127.0.0.1:{mirror_index.port}/simple/"
        venv = clone_venv(template, tmp_path / "v")
        with outage("refused", index):
            result = venv.pipff(
                "install", "-v", "--log", tmp_path / "mirror.log", "--retries", "0",
                "--fallback-report", tmp_path / "mirror.json", "-i", index.url,
                "--fallback-index-url", mirror, "pipff-alpha==2.0", env=env,
            )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert _pipff_versions(venv)["pipff-alpha"] == "2.0"
    assert SECRET not in result.output and basic not in result.output, result.describe()
    cache = Path(env["PIP_CACHE_DIR"])
    assert _entries(cache)
    written = [
        tmp_path / "mirror.log",
        tmp_path / "mirror.json",
        *(p for p in cache.rglob("*") if p.is_file()),
    ]
    leaks = [
        p for p in written if SECRET.encode() in p.read_bytes() or basic.encode() in p.read_bytes()
    ]
    assert not leaks, [(p, _lines_with(p, SECRET)) for p in leaks]
    pages = mirror_index.authorizations
    assert pages and all(auth == f"Basic {basic}" for auth in pages), pages


def _lines_with(path: Path, needle: str) -> list[str]:
    return [line for line in path.read_text(errors="replace").splitlines() if needle in line][:5]


# -- hash-checking mode -------------------------------------------------------------------------


def test_hash_checking_is_never_weakened(
    template: Path, tmp_path: Path, own_index: IndexServer, env: dict[str, str]
) -> None:
    index = own_index
    alpha11 = (index.dist_dir / "pipff_alpha-1.1-py3-none-any.whl").read_bytes()
    alpha10 = (index.dist_dir / "pipff_alpha-1.0-py3-none-any.whl").read_bytes()
    good = tmp_path / "good.txt"
    good.write_text(f"pipff-alpha==1.1 --hash=sha256:{_sha256(alpha11)}\n")
    wrong = {
        "zeros": f"pipff-alpha==1.1 --hash=sha256:{'0' * 64}\n",
        "another-file": f"pipff-alpha==1.1 --hash=sha256:{_sha256(alpha10)}\n",
    }
    clone_venv(template, tmp_path / "online").pipff(
        "install", "-i", index.url, "--require-hashes", "-r", good, env=env
    ).check()
    venv = clone_venv(template, tmp_path / "v")
    before = venv.installed()
    runs = []
    with outage("refused", index):
        for mode in ([], ["--prefer-offline"], ["--offline"]):
            for name, text in wrong.items():
                requirements = tmp_path / f"wrong-{name}.txt"
                requirements.write_text(text)
                args = [*mode, "-i", index.url, "--require-hashes", "-r", requirements]
                runs.append(venv.pipff("install", *args, env=env))
        # Tamper with the record so that the file and the page agree: alpha 1.1's recorded wheel
        # becomes 1.0's bytes, and the recorded page's hash for it is changed to match.
        cache = Path(env["PIP_CACHE_DIR"])
        _replace_body(cache, index.file_url("pipff_alpha-1.1-py3-none-any.whl"), alpha10)
        page_url = index.project_url("pipff-alpha")
        _path, entry = _entries(cache)[page_url]
        page = json.loads(_blob(cache, entry["sha256"]).read_bytes())
        for item in page["files"]:
            if item["filename"] == "pipff_alpha-1.1-py3-none-any.whl":
                item["hashes"] = {"sha256": _sha256(alpha10)}
        _replace_body(cache, page_url, json.dumps(page).encode())
        tampered = venv.pipff(
            "install", "--offline", "-i", index.url, "--require-hashes", "-r", good, env=env
        )
        runs.append(tampered)
    for result in runs:
        assert result.returncode != 0, result.describe()
        assert "Traceback" not in result.output, result.describe()
        assert "DO NOT MATCH THE HASHES" in result.output, result.describe()
    assert venv.installed() == before


# -- one index's record is never another's ------------------------------------------------------


def test_record_of_one_index_is_never_served_for_another(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """Recorded from index A; then B's URL, with the same project names, finds nothing local:
    another port, the same server under another host name, another path on the same host. An
    entry planted under B's name (a copy of A's) and a blob replaced by a symbolic link (to a
    file with the very same bytes) are refused too."""
    online = clone_venv(template, tmp_path / "online")
    online.pipff("install", "-i", index.url, "pipff-gamma", env=env).check()
    others = {
        "another port": closed_port_url(),
        "another host name": f"http://localhost:{index.port}/simple/",
        "another path": f"http://127.0.0.1:{index.port}/mirror/simple/",
    }
    venv = clone_venv(template, tmp_path / "v")
    before = venv.installed()
    results: dict[str, Result] = {}
    index.stop()
    for name, url in others.items():
        results[name] = venv.pipff("install", "--offline", "-i", url, "pipff-gamma", env=env)
    results["auto"] = venv.pipff(
        "install", "-i", others["another port"], "--retries", "0", "pipff-gamma", env=env
    )
    # A copy of A's entries filed under B's URLs (the file names an entry by its URL's hash).
    cache = Path(env["PIP_CACHE_DIR"])
    planted = others["another port"]
    b_page = planted.replace("/simple/", "/simple/pipff-gamma/")
    for a_url, b_url in (
        (index.project_url("pipff-gamma"), b_page),
        (index.file_url("pipff_gamma-1.0-py3-none-any.whl"), b_page.split("/simple/")[0]
         + "/files/pipff_gamma-1.0-py3-none-any.whl"),
    ):  # fmt: skip
        path, _entry = _entries(cache)[a_url]
        target = _entry_path(cache, b_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    results["planted entry"] = venv.pipff(
        "install", "--offline", "-i", planted, "pipff-gamma", env=env
    )
    # A's own blob replaced by a link to an outside file with the same bytes: never followed.
    _path, entry = _entries(cache)[index.file_url("pipff_gamma-1.0-py3-none-any.whl")]
    blob = _blob(cache, entry["sha256"])
    outside = tmp_path / "outside.whl"
    shutil.copyfile(blob, outside)
    blob.unlink()
    blob.symlink_to(outside)
    results["linked blob"] = venv.pipff(
        "install", "--offline", "-i", index.url, "pipff-gamma", env=env
    )
    for name, result in results.items():
        assert result.returncode != 0, (name, result.describe())
        assert "Traceback" not in result.output, (name, result.describe())
        if name != "linked blob":
            assert _no_local_copy(result, "pipff-gamma"), (name, result.describe())
            assert "local versions: none" in result.output, (name, result.describe())
    assert venv.installed() == before


# -- wheelhouse links ---------------------------------------------------------------------------


def test_wheelhouse_entries_leading_out_are_refused(
    template: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    outside = tmp_path / "outside"
    build_wheel(outside, "pipff-gamma", "1.0")
    build_wheel(outside, "pipff-alpha", "1.0")
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    links = {
        "pipff_gamma-1.0-py3-none-any.whl": outside / "pipff_gamma-1.0-py3-none-any.whl",
        "pipff_alpha-1.0-py3-none-any.whl": Path("../outside/pipff_alpha-1.0-py3-none-any.whl"),
        "pipff_beta-1.0-py3-none-any.whl": Path("nowhere/pipff_beta-1.0-py3-none-any.whl"),
    }
    for name, target in links.items():
        (wheelhouse / name).symlink_to(target)
    (wheelhouse / "pipff_zeta-1.0-py3-none-any.whl").mkdir()  # a directory, not a file
    # Fine: a link to a file in the wheelhouse itself, and the wheelhouse reached through a link.
    epsilon = build_wheel(tmp_path / "build", "pipff-epsilon", "1.0")
    shutil.copyfile(epsilon, wheelhouse / "epsilon.bin")
    (wheelhouse / epsilon.name).symlink_to("epsilon.bin")
    linked_wheelhouse = tmp_path / "linked-wheelhouse"
    linked_wheelhouse.symlink_to(wheelhouse, target_is_directory=True)

    venv = clone_venv(template, tmp_path / "v")
    base = ["install", "--offline", "-i", closed_port_url(), "--wheelhouse", str(linked_wheelhouse)]
    fine = venv.pipff(*base, "pipff-epsilon", env=env)
    assert fine.returncode == 0, fine.describe()
    assert _pipff_versions(venv) == {"pipff-epsilon": "1.0"}
    refused_lines = [
        line for line in fine.output.splitlines() if "leads out of the wheelhouse" in line
    ]
    for name in (*links, "pipff_zeta-1.0-py3-none-any.whl"):
        assert any(name in line for line in refused_lines), (name, fine.describe())
    assert not any(epsilon.name in line for line in refused_lines)
    for project in ("pipff-gamma", "pipff-alpha", "pipff-beta", "pipff-zeta"):
        result = venv.pipff(*base, project, env=env)
        assert result.returncode != 0, result.describe()
        assert "Traceback" not in result.output, result.describe()
        assert _no_local_copy(result, project), result.describe()
    assert _pipff_versions(venv) == {"pipff-epsilon": "1.0"}
