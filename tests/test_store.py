"""The local store: warm it, inspect it, check it, prune it, share it, break it.

Most tests drive real pip-ff in real venvs against the loopback index; a few exercise
:class:`~pip_offline_fallback.store.Store` in this process where a subprocess adds nothing
(planted links, the lock, units).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pip_offline_fallback.errors import UsageError
from pip_offline_fallback.store import Store, StoreBusy
from pip_offline_fallback.store.inventory import scan
from pip_offline_fallback.store.prune import PrunePolicy, prune
from pip_offline_fallback.storecmd.prune import parse_size
from testbed import IndexServer, Venv, build_wheel, clone_venv, outage

DAY = 86400.0


# -- helpers ---------------------------------------------------------------------------------


def _root(cache_dir: Path) -> Path:
    return cache_dir / "pip-ff"


def _info(venv: Venv, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = venv.pipff("store", "info", "--json", *args, env=env).check()
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def _files(info: dict[str, Any]) -> set[str]:
    return {e["filename"] for e in info["entries"] if e["kind"] == "file"}


def _entry_files(root: Path) -> list[Path]:
    return sorted((root / "v1" / "entries").glob("*/*.json"))


def _assert_store_sound(root: Path) -> int:
    """Every entry names a blob that hashes to its name; no temporary file is left behind."""
    count = 0
    for path in _entry_files(root):
        entry = json.loads(path.read_text())
        assert path.stem == hashlib.sha256(entry["url"].encode()).hexdigest()
        blob = root / "v1" / "blobs" / entry["sha256"][:2] / entry["sha256"]
        data = blob.read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] == blob.name, path
        assert len(data) == entry["size"]
        count += 1
    for blob in (root / "v1" / "blobs").glob("*/*"):
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert not list((root / "v1" / "entries").glob("*/.tmp-*"))
    return count


def _set_fetched(root: Path, when: Callable[[dict[str, Any]], float | None]) -> int:
    """Rewrite the fetch time of the entries ``when`` gives one for (the test's clock)."""
    changed = 0
    for path in _entry_files(root):
        entry = json.loads(path.read_text())
        fetched = when(entry)
        if fetched is not None:
            entry["fetched"] = fetched
            path.write_text(json.dumps(entry))
            changed += 1
    return changed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _filename(entry: dict[str, Any]) -> str:
    return str(entry["url"]).rstrip("/").rsplit("/", 1)[-1]


# -- warming ---------------------------------------------------------------------------------


def test_warm_with_download_then_install_offline(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    """``pip-ff download`` online fills the store; an install with the index gone needs no more."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pipff-alpha==2.0\npipff-beta[fast]\npipff-sdistonly\n")
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff(
        "download", "-d", tmp_path / "dl", "-i", index.url, "-r", requirements, env=env
    ).check()
    assert warm.installed() == clone_venv(template, tmp_path / "fresh").installed()

    files = _files(_info(warm, env))
    assert {
        "pipff_alpha-2.0-py3-none-any.whl",
        "pipff_beta-1.5-py3-none-any.whl",
        "pipff_gamma-1.0-py3-none-any.whl",
        "pipff_sdistonly-1.0.tar.gz",
        "pipff_tinybackend-1.0-py3-none-any.whl",  # recorded by build isolation's pip
    } <= files

    offline = clone_venv(template, tmp_path / "offline")
    with outage("refused", index):
        result = offline.pipff("install", "-i", index.url, "-r", requirements, env=env)
    assert result.returncode == 0, result.output
    installed = offline.installed()
    assert installed["pipff-alpha"] == "2.0"
    assert installed["pipff-beta"] == "1.5"
    assert installed["pipff-gamma"] == "1.0"
    assert installed["pipff-sdistonly"] == "1.0"


def test_warm_for_another_platform_and_python(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    target = ["--platform", "manylinux2014_x86_64", "--python-version", "3.12"]
    flags = [*target, "--only-binary=:all:", "-i", index.url]
    online = tmp_path / "online"
    venv.pipff("download", *flags, "-d", online, "pipff-alpha==2.0", env=env).check()
    assert {
        "pipff_alpha-2.0-py3-none-any.whl",
        "pipff_beta-1.5-py3-none-any.whl",
    } <= _files(_info(venv, env))
    # The check can take the same target (pip needs --target for it; the check adds one).
    check = venv.pipff("store", "check", *flags, "pipff-alpha==2.0", env=env)
    assert check.returncode == 0, check.output

    offline = tmp_path / "offline"
    with outage("refused", index):
        result = venv.pipff("download", *flags, "-d", offline, "pipff-alpha==2.0", env=env)
    assert result.returncode == 0, result.output
    names = sorted(p.name for p in online.iterdir())
    assert names == sorted(p.name for p in offline.iterdir())
    for name in names:
        assert (online / name).read_bytes() == (offline / name).read_bytes()


# -- info ------------------------------------------------------------------------------------


def test_info_table_json_and_where_the_store_is(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    venv.pipff("install", "-i", index.url, "pipff-alpha==2.0", "pipff-gamma", env=env).check()
    root = _root(cache_dir)

    table = venv.pipff("store", "info", env=env).check().stdout.splitlines()
    assert table[0] == f"pip-ff store: {root}"
    rows = {line.split()[0]: line.split() for line in table if line.startswith("  pipff-")}
    assert set(rows) == {"pipff-alpha", "pipff-beta", "pipff-gamma"}
    assert rows["pipff-alpha"][1:4] == ["2.0", "1", "1"]  # versions, pages, files
    assert rows["pipff-beta"][1] == "1.5"
    assert "  damaged: none (every body matches its sha256)" in table

    info = _info(venv, env)
    assert info["store"] == str(root)
    assert info["exists"] and info["verified"]
    assert info["counts"]["pages"] == 3
    assert info["counts"]["files"] == 3
    assert info["counts"]["damaged"] == info["counts"]["unreferenced_bodies"] == 0
    on_disk = sum(
        p.stat().st_size
        for top in ("entries", "blobs", "tmp")
        for p in (root / "v1" / top).rglob("*")
        if p.is_file()
    )
    assert info["total_size"] == on_disk
    projects = {p["name"]: p for p in info["projects"]}
    assert projects["pipff-alpha"]["versions"] == ["2.0"]
    assert projects["pipff-alpha"]["size"] == sum(
        e["size"] for e in info["entries"] if e["project"] == "pipff-alpha"
    )
    for entry in info["entries"]:
        assert 0 <= entry["age_seconds"] < 600
        assert entry["problem"] is None

    # The same store, named three other ways.
    no_variable = {k: v for k, v in env.items() if k != "PIP_CACHE_DIR"}
    # --cache-dir moves pip's caches, not the record: as for an install (issue 23).
    assert _info(venv, env, "--cache-dir", str(tmp_path / "tool-cache"))["store"] == str(root)
    assert _info(venv, no_variable, "--store", str(root))["counts"] == info["counts"]
    assert _info(venv, dict(env, PIPFF_STORE=str(root)))["counts"] == info["counts"]
    # PIPFF_STORE moves the record, for installs and for the store command alike.
    elsewhere = tmp_path / "elsewhere"
    moved = dict(env, PIPFF_STORE=str(elsewhere))
    venv.pipff("install", "-i", index.url, "pipff-zeta", env=moved).check()
    moved_info = _info(venv, moved)
    assert moved_info["store"] == str(elsewhere)
    assert _files(moved_info) == {"pipff_zeta-1.0-py3-none-any.whl"}


# -- check -----------------------------------------------------------------------------------


def test_check_says_which_can_and_why_not(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv.pipff("install", "-i", index.url, "pipff-alpha==2.0", "pipff-gamma", env=env).check()
    index.clear_log()
    mixed = tmp_path / "mixed.txt"
    mixed.write_text(
        "# what the project needs\n"
        "pipff-alpha==2.0\n"
        "pipff-gamma  # the extra\n"
        "pipff-alpha==1.0\n"
        "pipff-zeta\n"
    )
    result = venv.pipff("store", "check", "-i", index.url, "-r", mixed, env=env)
    assert result.returncode == 1, result.output
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "pipff-alpha==2.0 yes pipff-alpha 2.0" in lines
    assert "pipff-gamma yes pipff-gamma 1.0" in lines
    assert (
        "pipff-alpha==1.0 NO no local copy satisfies pipff-alpha==1.0 (local versions: 2.0)"
    ) in lines
    assert "pipff-zeta NO no local copy satisfies pipff-zeta (local versions: none)" in lines
    assert "2 can be installed offline; 2 can't." in lines

    data = json.loads(
        venv.pipff("store", "check", "--json", "-i", index.url, "-r", mixed, env=env).stdout
    )
    assert data["ok"] is False
    verdicts = {r["requirement"]: r["ok"] for r in data["requirements"]}
    assert verdicts == {
        "pipff-alpha==2.0": True,
        "pipff-gamma": True,
        "pipff-alpha==1.0": False,
        "pipff-zeta": False,
    }

    good = venv.pipff(
        "store", "check", "--json", "-i", index.url, "pipff-alpha==2.0", "pipff-gamma", env=env
    )
    assert good.returncode == 0, good.output
    installs = {(i["name"], i["version"]) for i in json.loads(good.stdout)["install"]}
    assert installs == {("pipff-alpha", "2.0"), ("pipff-beta", "1.5"), ("pipff-gamma", "1.0")}
    assert index.requested() == []  # all of it offline, with the index still up


# -- prune -----------------------------------------------------------------------------------


def _prune(venv: Venv, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = venv.pipff("store", "prune", "--json", *args, env=env).check()
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _removed(data: dict[str, Any]) -> set[str]:
    return {_filename(r["entry"]) for r in data["removed"] if r["kind"] == "entry"}


def test_prune_by_age_count_and_size(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    for reqs in (["pipff-alpha==1.0", "pipff-gamma"], ["pipff-alpha==1.1"], ["pipff-alpha==2.0"]):
        venv.pipff(
            "download", "--no-deps", "-d", tmp_path / "dl", "-i", index.url, *reqs, env=env
        ).check()
    root = _root(cache_dir)
    now = time.time()

    def ten_days_for_gamma_and_alpha_1_0(entry: dict[str, Any]) -> float | None:
        name = _filename(entry)
        if "gamma" in entry["url"] or name.startswith("pipff_alpha-1.0-"):
            return now - 10 * DAY
        return None

    assert _set_fetched(root, ten_days_for_gamma_and_alpha_1_0) >= 3
    before = _info(venv, env)

    dry = _prune(venv, env, "--older-than", "7d", "--dry-run")
    assert dry["dry_run"] is True
    expected = {
        "pipff_alpha-1.0-py3-none-any.whl",
        "pipff_gamma-1.0-py3-none-any.whl",
        "pipff-gamma",
    }
    assert expected <= _removed(dry)
    assert all(not n.startswith(("pipff_alpha-1.1", "pipff_alpha-2.0")) for n in _removed(dry))

    def snapshot(info: dict[str, Any]) -> set[tuple[str, str, float]]:
        return {(e["url"], e["sha256"], e["fetched"]) for e in info["entries"]}

    assert snapshot(_info(venv, env)) == snapshot(before)  # a dry run removes nothing
    human = venv.pipff("store", "prune", "--older-than", "7d", "--dry-run", env=env).check()
    assert "would remove pipff_alpha-1.0-py3-none-any.whl (fetched 10 days ago)" in human.stdout
    assert "pip-ff store prune (dry run): would remove" in human.stdout

    real = _prune(venv, env, "--older-than", "7d")
    assert _removed(real) == _removed(dry)
    assert real["freed"] == dry["freed"] > 0
    assert real["counts"]["bodies"] == real["counts"]["entries"]  # no body shared here
    after = _info(venv, env)
    assert {p["name"]: p["versions"] for p in after["projects"]} == {"pipff-alpha": ["1.1", "2.0"]}
    assert after["total_size"] == before["total_size"] - real["freed"]

    kept = _prune(venv, env, "--keep", "1")
    assert {n for n in _removed(kept) if n.endswith(".whl")} == {"pipff_alpha-1.1-py3-none-any.whl"}
    after = _info(venv, env)
    assert [p["versions"] for p in after["projects"]] == [["2.0"]]
    assert after["counts"]["pages"] == 1  # index pages are never "old versions"

    # Size: the oldest go first, until the store fits.
    oldest = "pipff_alpha-2.0-py3-none-any.whl"
    _set_fetched(root, lambda e: now - DAY if _filename(e) == oldest else None)
    total = _info(venv, env)["total_size"]  # after the rewrite: the entry's size changed too
    sized = _prune(venv, env, "--max-size", str(total - 1))
    assert _removed(sized) == {oldest}
    everything = _prune(venv, env, "--max-size", "0")
    assert everything["counts"]["entries"] > 0
    assert _info(venv, env)["total_size"] == 0
    assert not list((root / "v1" / "blobs").glob("*/*"))


# -- sharing, crashes, damage ----------------------------------------------------------------


_PRUNER = """
import sys, time, os
from pip_offline_fallback.store.prune import PrunePolicy, prune
from pip_offline_fallback.store import Store, StoreBusy
store, stop = Store(sys.argv[1]), sys.argv[2]
policies = [PrunePolicy(keep=1), PrunePolicy(max_size=4000), PrunePolicy(), PrunePolicy(max_size=0)]
runs = removed = 0
while not os.path.exists(stop):
    try:
        removed += prune(store, policies[runs % len(policies)], lock_timeout=5).count("entry")
    except StoreBusy:
        pass
    runs += 1
    time.sleep(0.02)  # a moment for the recorders between two prunes
print(runs, removed)
"""


def test_concurrent_installs_while_another_process_prunes(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    root = _root(cache_dir)
    stop = tmp_path / "stop"
    pruner = subprocess.Popen(
        [str(venv.python), "-c", _PRUNER, str(root), str(stop)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workloads = [
        ["pipff-alpha==2.0"],
        ["pipff-beta[fast]"],
        ["pipff-alpha==1.0", "pipff-gamma"],
        ["pipff-alpha==1.1"],
        ["pipff-zeta", "pipff-epsilon"],
        ["pipff-beta==1.0"],
        ["pipff-alpha", "pipff-beta[fast]"],
        ["pipff-gamma", "pipff-zeta==1.0"],
    ]
    results: list[Any] = [None] * len(workloads)

    def install(i: int) -> None:
        target = tmp_path / f"target-{i}"
        results[i] = venv.pipff(
            "install", "-i", index.url, "--target", target, *workloads[i], env=env, timeout=240
        )

    try:
        threads = [threading.Thread(target=install, args=(i,)) for i in range(len(workloads))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.touch()
        out, err = pruner.communicate(timeout=60)
    assert pruner.returncode == 0, err
    runs, removed = map(int, out.split())
    assert runs > 10 and removed > 0  # it pruned what the installs recorded, while they ran
    for result in results:
        assert result.returncode == 0, result.output
        assert "Traceback" not in result.output
    for i in range(len(workloads)):
        assert list((tmp_path / f"target-{i}").glob("*.dist-info"))
    _assert_store_sound(root)
    assert not list((root / "v1" / "tmp").iterdir())  # every recorder committed or cleaned up

    # After the storm the store records and serves as before.
    again = venv.pipff(
        "install", "-i", index.url, "--target", tmp_path / "again", "pipff-gamma", env=env
    )
    assert again.returncode == 0, again.output
    assert _assert_store_sound(root) > 0
    with outage("refused", index):
        offline = venv.pipff(
            "install", "-i", index.url, "--target", tmp_path / "off", "pipff-gamma", env=env
        )
    assert offline.returncode == 0, offline.output


class _StallingIndex:
    """One project whose file sends half its bytes, then stalls until released."""

    def __init__(self, wheel: Path) -> None:
        body = wheel.read_bytes()
        name = wheel.name
        self.release = threading.Event()
        self.stall = True
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/simple/"):
                    page = f'<html><body><a href="/files/{name}">{name}</a></body></html>'.encode()
                    self._answer(page, "text/html", len(page))
                elif self.path == f"/files/{name}":
                    self._answer(
                        body[: len(body) // 2] if owner.stall else body,
                        "application/zip",
                        len(body),
                    )
                    if owner.stall:
                        owner.release.wait(60)
                        self.close_connection = True
                else:
                    self.send_error(404)

            def _answer(self, data: bytes, content_type: str, length: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def _stop_mid_record(
    venv: Venv, url: str, env: dict[str, str], root: Path, signum: int
) -> tuple[int, Path]:
    """Start an install; send ``signum`` once part of the file is recorded. (status, temp file)"""
    process = subprocess.Popen(
        [str(venv.python), "-m", "pip_offline_fallback", "install", "-i", url, "pipff-big",
         "--target", str(root.parent / "never")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        partial: list[Path] = []
        while time.monotonic() < deadline and not partial:
            # The wheel's, not the page's (that one is renamed away in a moment).
            partial = [p for p in (root / "v1" / "tmp").glob("rec-*") if _size(p) > 100_000]
            time.sleep(0.05)
        assert partial, "pip-ff never started recording the file"
        os.kill(process.pid, signum)
        return process.wait(timeout=60), partial[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize("after", [1, 3, 6])
def test_killed_mid_run_leaves_a_sound_store(
    venv: Venv, index: IndexServer, tmp_path: Path, env: dict[str, str], cache_dir: Path, after: int
) -> None:
    """SIGKILL once ``after`` entries are filed (bodies are filed behind pip's back, issue 26):
    the last entries may be lost, but no entry is half-written or names a missing blob, and
    the next run records the rest and installs offline from it."""
    root = _root(cache_dir)
    reqs = ["pipff-alpha", "pipff-beta[fast]", "pipff-zeta", "pipff-epsilon"]
    process = subprocess.Popen(
        [str(venv.python), "-m", "pip_offline_fallback", "install", "-i", index.url,
         "--target", str(tmp_path / "never"), *reqs],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if len(_entry_files(root)) >= after:
                break
            time.sleep(0.001)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert _assert_store_sound(root) >= after

    venv.pipff("install", "-i", index.url, "--target", tmp_path / "t1", *reqs, env=env).check()
    recorded = _assert_store_sound(root)
    with outage("refused", index):
        result = venv.pipff("install", "-i", index.url, "--target", tmp_path / "t2", *reqs, env=env)
    assert result.returncode == 0, result.output
    assert sorted(os.listdir(tmp_path / "t2")) == sorted(os.listdir(tmp_path / "t1"))
    assert _assert_store_sound(root) == recorded


def test_killed_mid_record_leaves_a_store_the_next_run_uses(
    venv: Venv, tmp_path: Path, env: dict[str, str], cache_dir: Path
) -> None:
    # Big enough that pip reads (and pip-ff records) part of it before the transfer stalls
    # (pip 26 reads 256 kB at a time).
    noise = base64.b64encode(os.urandom(1_200_000)).decode()
    wheel = build_wheel(
        tmp_path / "dists", "pipff-big", "1.0", modules={"pipff_big.py": f"X = {noise!r}\n"}
    )
    server = _StallingIndex(wheel)
    root = _root(cache_dir)
    try:
        # Ctrl-C: pip-ff exits 130 and takes its temporary file with it.
        status, partial = _stop_mid_record(venv, server.url, env, root, signal.SIGINT)
        assert status == 130
        assert not partial.exists()
        # SIGKILL: nothing runs any more; the half file stays, and is all that stays.
        status, partial = _stop_mid_record(venv, server.url, env, root, signal.SIGKILL)
        assert status == -signal.SIGKILL
        assert partial.exists() and partial.stat().st_size < wheel.stat().st_size
        assert _assert_store_sound(root) >= 1  # the page; never the half file
        info = _info(venv, env)
        assert "pipff_big-1.0-py3-none-any.whl" not in _files(info)
        assert info["counts"]["temporary_files"] == 1

        # The next run records the whole file and installs; then the index goes away.
        server.stall = False
        server.release.set()
        result = venv.pipff(
            "install", "-i", server.url, "--target", tmp_path / "t2", "pipff-big", env=env
        )
        assert result.returncode == 0, result.output
        assert "pipff_big-1.0-py3-none-any.whl" in _files(_info(venv, env))
    finally:
        server.close()
    offline = venv.pipff(
        "install", "-i", server.url, "--target", tmp_path / "t3", "pipff-big", env=env
    )
    assert offline.returncode == 0, offline.output
    assert (tmp_path / "t3" / "pipff_big.py").read_bytes() == (
        tmp_path / "t2" / "pipff_big.py"
    ).read_bytes()

    # A temporary file is only stale (and pruned) an hour after its last write.
    assert _prune(venv, env)["counts"]["temporary_files"] == 0
    old = time.time() - 2 * 3600
    os.utime(partial, (old, old))
    assert _prune(venv, env)["counts"]["temporary_files"] == 1
    assert not partial.exists()
    _assert_store_sound(root)


def test_tampered_body_is_never_installed(
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
    cache_dir: Path,
    dists: Any,
) -> None:
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-gamma", env=env).check()
    info = _info(warm, env)
    (entry,) = [e for e in info["entries"] if e["filename"] == "pipff_gamma-1.0-py3-none-any.whl"]
    blob = _root(cache_dir) / "v1" / "blobs" / entry["sha256"][:2] / entry["sha256"]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: only the hash can tell
    blob.write_bytes(bytes(data))

    damaged = _info(warm, env)["damaged"]
    assert damaged == [{"url": entry["url"], "problem": "damaged (hash mismatch)"}]
    assert _info(warm, env, "--no-verify")["damaged"] == []  # sizes alone can't tell
    check = warm.pipff("store", "check", "--json", "-i", index.url, "pipff-gamma", env=env)
    assert check.returncode == 1
    assert json.loads(check.stdout)["damaged"] == [entry["url"]]

    offline = clone_venv(template, tmp_path / "offline")
    with outage("refused", index):
        result = offline.pipff("install", "-i", index.url, "pipff-gamma", env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.output
    assert "pipff-gamma" not in offline.installed()
    assert f"the recorded copy of {entry['url']} is damaged" in result.output

    pruned = _prune(warm, env, "--damaged")
    assert _removed(pruned) == {"pipff_gamma-1.0-py3-none-any.whl"}
    assert not blob.exists()
    assert _info(warm, env)["damaged"] == []


def test_prune_waits_for_the_lock_and_installs_never_do(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    store = Store(str(_root(cache_dir)))
    with store.lock(timeout=5):
        busy = venv.pipff("store", "prune", "--wait", "0.5", env=env)
        assert busy.returncode == 1
        assert "ERROR: pip-ff: the store is busy" in busy.stderr
        started = time.monotonic()
        result = venv.pipff("install", "-i", index.url, "pipff-alpha==2.0", "pipff-gamma", env=env)
        assert result.returncode == 0, result.output
        assert time.monotonic() - started < 30
        assert not _entry_files(_root(cache_dir))  # recording was skipped, not waited for
        assert not list((_root(cache_dir) / "v1" / "tmp").iterdir())
    assert venv.pipff("store", "prune", "--wait", "0.5", env=env).returncode == 0


# -- in this process -------------------------------------------------------------------------


def _record(store: Store, url: str, body: bytes) -> str:
    recorder = store.recorder(url, {"Content-Type": "application/zip", "Set-Cookie": "x"})
    assert recorder is not None
    recorder.write(body[:3])
    recorder.write(body[3:])
    recorder.commit()
    return recorder.sha256


def test_recorder_reports_the_sha256_and_skips_a_busy_store(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    url = "http://example.invalid/files/pipff_gamma-1.0-py3-none-any.whl"
    assert _record(store, url, b"wheel bytes") == hashlib.sha256(b"wheel bytes").hexdigest()
    entry = store.lookup(url + "#sha256=abc")
    assert entry is not None and entry.headers == {"content-type": "application/zip"}
    with store.open_verified(entry) as body:
        assert body.read() == b"wheel bytes"

    other = Store(str(tmp_path / "store"))  # another process, as far as the lock can tell
    with other.lock(timeout=1):
        started = time.monotonic()
        _record(store, url.replace("gamma", "zeta"), b"zeta")
        assert time.monotonic() - started < 5
        assert store.lookup(url.replace("gamma", "zeta")) is None
        with pytest.raises(StoreBusy):
            prune(store, PrunePolicy(), lock_timeout=0.1)
    # Having met a busy store once, this run records nothing more (and never waits again).
    assert store.recorder(url, {}) is None
    assert not list((tmp_path / "store" / "v1" / "tmp").iterdir())


def test_a_body_longer_than_the_hash_buffer_is_verified_to_its_last_byte(tmp_path: Path) -> None:
    # The store hashes through one reused buffer (hashing.CHUNK): a body of several buffers and a
    # partial one must hash as a whole, and damage in its last byte must still be seen.
    store = Store(str(tmp_path / "store"))
    url = "http://example.invalid/files/pipff_big-1.0-py3-none-any.whl"
    body = os.urandom(3 * 64 * 1024 + 17)
    assert _record(store, url, body) == hashlib.sha256(body).hexdigest()
    entry = store.lookup(url)
    assert entry is not None
    with store.open_verified(entry) as served:
        assert served.read() == body
    blob = Path(entry.blob)
    blob.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    assert store.open_verified(entry) is None
    assert store.damaged == [entry.url]


def test_links_planted_in_the_store_are_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = Store(str(root))
    url = "http://example.invalid/files/pipff_gamma-1.0-py3-none-any.whl"
    sha = _record(store, url, b"genuine")
    entry_path = Path(store.entry_path(url))
    blob_path = root / "v1" / "blobs" / sha[:2] / sha

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_bytes(b"genuine")  # same bytes: only the link itself is wrong
    planted_entry = outside / "entry.json"
    planted_entry.write_text(entry_path.read_text())

    blob_path.unlink()
    blob_path.symlink_to(secret)
    entry = store.lookup(url)
    assert entry is not None and store.open_verified(entry) is None  # the blob is a link
    entry_path.unlink()
    entry_path.symlink_to(planted_entry)
    assert store.lookup(url) is None and not store.has(url)

    # A link where a directory should be: the recorder writes nothing through it.
    other = "http://example.invalid/files/pipff_zeta-1.0-py3-none-any.whl"
    other_sha = hashlib.sha256(b"zeta").hexdigest()
    assert other_sha[:2] != sha[:2]
    (root / "v1" / "blobs" / other_sha[:2]).symlink_to(outside, target_is_directory=True)
    _record(store, other, b"zeta")
    assert store.lookup(other) is None
    assert sorted(p.name for p in outside.iterdir()) == ["entry.json", "secret"]

    result = prune(store, PrunePolicy())
    assert result.count("link") == 3
    assert secret.read_bytes() == b"genuine" and planted_entry.exists()
    assert not blob_path.is_symlink() and not entry_path.is_symlink()
    assert scan(store).links == []


def test_prune_policies_with_a_clock(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    base = "http://example.invalid/files/"
    for version in ("1.0", "1.1", "2.0"):
        _record(store, f"{base}pipff_alpha-{version}-py3-none-any.whl", version.encode() * 100)
        _record(store, f"{base}pipff_alpha-{version}.tar.gz", version.encode() * 50)
    _record(store, "http://example.invalid/simple/pipff-alpha/", b"<html></html>")
    later = time.time() + 3 * DAY
    assert len(prune(store, PrunePolicy(older_than=4 * DAY), now=later).removals) == 0
    kept = prune(store, PrunePolicy(keep=2), dry_run=True)
    assert {r.entry.filename for r in kept.removals if r.entry} == {
        "pipff_alpha-1.0-py3-none-any.whl",
        "pipff_alpha-1.0.tar.gz",
    }
    assert len(scan(store).entries) == 7  # dry run
    gone = prune(store, PrunePolicy(older_than=2 * DAY), now=later)
    assert gone.count("entry") == 7 and gone.count("blob") == 7
    assert scan(store).entries == [] and scan(store).blobs == {}


def test_a_host_is_known_while_anything_from_it_is_kept(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    page = "http://Index.example.invalid/simple/pipff-alpha/"
    assert not store.knows_host_of(page)
    _record(store, page, b"<html></html>")
    later = Store(str(tmp_path / "store"))  # another run
    assert later.knows_host_of("http://index.example.invalid:80/simple/never-recorded/")
    assert not later.knows_host_of("http://index.example.invalid:8080/simple/pipff-alpha/")
    assert not later.knows_host_of("https://index.example.invalid/simple/pipff-alpha/")
    assert prune(later, PrunePolicy()).count("host") == 0
    gone = prune(later, PrunePolicy(older_than=0), now=time.time() + 1)
    assert gone.count("entry") == 1 and gone.count("host") == 1
    assert not Store(str(tmp_path / "store")).knows_host_of(page)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("512", 512),
        ("10k", 10_000),
        ("1.5MB", 1_500_000),
        ("2G", 2 * 10**9),
        ("1GiB", 2**30),
        ("3 mib", 3 * 2**20),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "5X", "-1", "1e400"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


def test_store_command_usage_errors(venv: Venv, env: dict[str, str]) -> None:
    for argv in (["store", "prune", "--max-size", "lots"], ["store", "check"], ["store", "frob"]):
        result = venv.pipff(*argv, env=env)
        assert result.returncode == 2, result.output
        assert result.stderr.startswith("ERROR: pip-ff: "), result.stderr
    assert venv.pipff("store", "--help", env=env).returncode == 0


def test_requirements_are_read_as_pip_reads_them(tmp_path: Path) -> None:
    """store check's requirements are pip's parser's, file for file (in this process)."""
    from pip._internal.network.session import PipSession
    from pip._internal.req.constructors import install_req_from_parsed_requirement
    from pip._internal.req.req_file import parse_requirements

    from pip_offline_fallback.compat import reqfile

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("pipff-zeta==1.0 --hash=sha256:abc\n-r deeper.txt\n")
    (tmp_path / "sub" / "deeper.txt").write_text("pipff-gamma\n")
    (tmp_path / "constraints.txt").write_text("pipff-beta<2\n")
    main = tmp_path / "requirements.txt"
    main.write_bytes(
        (
            "# -*- coding: latin-1 -*-\n"
            "# the café's\n"
            "--index-url http://127.0.0.1:1/simple/\n"
            "-c constraints.txt\n"
            "pipff-alpha>=1.0,\\\n"
            "    <3  # continued\n"
            "--require-hashes\n"
            "-r sub/more.txt\n"
            "pipff-beta[fast] ; python_version >= '3'\n"
            "pipff-never ; python_version < '3'\n"
        ).encode("latin-1")
    )
    with PipSession() as session:
        pips = [
            install_req_from_parsed_requirement(parsed)
            for parsed in parse_requirements(str(main), session=session)
            if not parsed.constraint
        ]
    expected = [
        (f"{r.req}; {r.markers}" if r.markers else str(r.req), r.name, r.match_markers())
        for r in pips
    ]
    assert len(expected) == 5  # the -r files' too, and no constraint among them

    read = reqfile.InstallCommandLine(["-r", str(main)])
    try:
        found = [(r.text, r.name, r.applies) for r in read.requirements]
        specifiers = {r.name: r.specifier for r in read.requirements}
    finally:
        read.close()
    assert found == expected
    assert specifiers["pipff-beta"] == "<2"  # the constraint file's, added
