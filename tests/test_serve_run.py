"""``pip-ff run`` and its per-user serve (issue 32): found or started detached, reused run after
run on the same URL, proven before use, ended by ``serve stop`` or when idle.

Real processes throughout: pip-ff run in a subprocess, the serve it starts detached, uv at its
pinned version (tests/test_serve_tools.py's venv), the test bed's index on loopback. Each test
has its own record (PIP_CACHE_DIR of the ``env`` fixture), HOME and uv cache, and stops the
serve it started at teardown (``serve stop``, then its pid).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pip import __version__ as pip_version

from testbed import IndexServer, Result, ToolWheels
from tests.serving import per_user_state_dir, stop_per_user_serve
from tests.test_serve_tools import EXPECTED, PIPFF, REQUIREMENTS, _uv_freeze, uv_venv
from tests.test_tools import ToolVenv, _run, _tool_env

__all__ = ["uv_venv"]  # the session fixture, shared with test_serve_tools.py
PRINT_URL = [sys.executable, "-c", "import os; print(os.environ['PIP_INDEX_URL'])"]


@pytest.fixture
def run_env(
    env: dict[str, str], tmp_path: Path, index: IndexServer, tool_wheels: ToolWheels
) -> Iterator[dict[str, str]]:
    """The tools' isolated environment; the per-user serve started with it is stopped after."""
    tool_env = _tool_env(env, tmp_path, index, tool_wheels)
    tool_env.update(UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_NO_CONFIG="1")
    tool_env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    try:
        yield tool_env
    finally:
        stop_per_user_serve(tool_env)


def _state(env: dict[str, str]) -> dict[str, str]:
    """The per-user serve's state file: ``name value`` lines."""
    lines = (per_user_state_dir(env) / "state").read_text().splitlines()
    return dict(line.partition(" ")[::2] for line in lines)


def _url(env: dict[str, str], cwd: Path) -> str:
    seen = _run([*PIPFF, "run", "--", *PRINT_URL], env, cwd)
    assert seen.returncode == 0, seen
    return seen.stdout.strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    # A zombie (its parent, a run, has ended) has ended too.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    return True


def _serve(env: dict[str, str], what: str, cwd: Path) -> Result:
    return _run([*PIPFF, "serve", what], env, cwd)


def _uv_install(uv: ToolVenv, env: dict[str, str], where: Path, *extra: str) -> Result:
    where.mkdir(parents=True)
    _run([uv.script("uv"), "venv", "-q", "-p", sys.executable, str(where / "v")], env, where)
    return _run(
        [*PIPFF, "run", "--", uv.script("uv"), "pip", "install", "-p", str(where / "v"), *extra,
         *REQUIREMENTS],
        env,
        where,
    )  # fmt: skip


def test_runs_reuse_one_serve_and_uv_reuses_its_cache(
    uv_venv: ToolVenv, run_env: dict[str, str], tmp_path: Path, index: IndexServer
) -> None:
    first = _uv_install(uv_venv, run_env, tmp_path / "first")
    assert first.returncode == 0, first
    pid = _state(run_env)["pid"]
    # The index was asked with pip's User-Agent, kept for the serve's next start (compat/agent).
    if sys.platform.startswith("linux"):
        kept = json.loads((per_user_state_dir(run_env) / "user-agent").read_text())["agent"]
        assert kept.startswith(f"pip/{pip_version} "), kept
        assert {h.get("User-Agent") for _, h in index.headers_seen} == {kept}
    url = _url(run_env, tmp_path)
    index.clear_log()
    # uv keys its cache by the index URL: the same URL, so an offline uv finds everything.
    second = _uv_install(uv_venv, run_env, tmp_path / "second", "--offline")
    assert second.returncode == 0, second
    assert _uv_freeze(uv_venv, run_env, tmp_path / "second") == EXPECTED
    third = _uv_install(uv_venv, run_env, tmp_path / "third")
    assert third.returncode == 0, third
    assert "Prepared" not in third.stderr, third  # nothing downloaded, nothing built
    assert not [p for p in index.requested() if p.endswith((".whl", ".tar.gz"))]
    assert _url(run_env, tmp_path) == url
    assert _state(run_env)["pid"] == pid  # one serve for all of them
    # Offline, run's closing line counts what serve answered from local sources.
    index.stop()
    cold = dict(run_env, UV_CACHE_DIR=str(tmp_path / "cold-uv-cache"))
    offline = _uv_install(uv_venv, cold, tmp_path / "offline")
    assert offline.returncode == 0, offline
    assert "pip-ff: finished from local sources (unreachable: " in offline.stderr, offline
    assert "files: 3 from pip-ff's record; pages: 3 from pip-ff's record" in offline.stderr


def test_uv_lock_is_the_same_run_after_run_and_locked_passes(
    uv_venv: ToolVenv, run_env: dict[str, str], tmp_path: Path, index: IndexServer
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["pipff-alpha", "pipff-beta[fast]"]\n'
    )
    uv = uv_venv.script("uv")
    locked = _run([*PIPFF, "run", "--", uv, "lock"], run_env, project)
    assert locked.returncode == 0, locked
    first = (project / "uv.lock").read_text()
    assert _url(run_env, tmp_path).rstrip("/") in first
    for command in (["lock", "--locked"], ["sync", "--locked"], ["lock"], ["sync", "--locked"]):
        again = _run([*PIPFF, "run", "--", uv, *command], run_env, project)
        assert again.returncode == 0, (command, again)
        assert "names" not in again.stderr  # uv.lock names serve's own URL: no line
    assert "Prepared" not in again.stderr, again  # the second sync downloads nothing
    assert (project / "uv.lock").read_text() == first
    # A lock made against another index: one line before the command, the file untouched.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = first.replace(_url(run_env, tmp_path).rstrip("/"), "https://other.invalid/simple")
    (elsewhere / "uv.lock").write_text(other)
    told = _run([*PIPFF, "run", "--", sys.executable, "-c", "pass"], run_env, elsewhere)
    assert told.returncode == 0, told
    lines = [line for line in told.stderr.splitlines() if "uv.lock" in line]
    assert len(lines) == 1 and "https://other.invalid/simple" in lines[0], told.stderr
    assert (elsewhere / "uv.lock").read_text() == other
    # Locked while the index is down: said once, after the command.
    index.stop()
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / "pyproject.toml").write_text((project / "pyproject.toml").read_text())
    cold = dict(run_env, UV_CACHE_DIR=str(tmp_path / "cold-uv-cache"))
    narrow = _run([*PIPFF, "run", "--", uv, "lock"], cold, offline)
    assert narrow.returncode == 0, narrow
    said = [
        line for line in narrow.stderr.splitlines() if "while the index was unreachable" in line
    ]
    assert len(said) == 1 and said[0].startswith("pip-ff: uv.lock was written"), narrow.stderr


def test_serve_status_and_stop(run_env: dict[str, str], tmp_path: Path) -> None:
    before = _serve(run_env, "status", tmp_path)
    assert before.returncode == 1 and "not running" in before.stdout, before
    url = _url(run_env, tmp_path)
    status = _serve(run_env, "status", tmp_path)
    assert status.returncode == 0 and f"running: {url}" in status.stdout, status
    stopped = _serve(run_env, "stop", tmp_path)
    assert stopped.returncode == 0 and "stopped the serve on port" in stopped.stdout, stopped
    after = _serve(run_env, "status", tmp_path)
    assert after.returncode == 1 and "not running" in after.stdout, after
    # The next run starts it again on the same port: the same URL.
    assert _url(run_env, tmp_path) == url


def test_a_serve_with_other_options_is_replaced_on_the_same_port(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    url = _url(run_env, tmp_path)
    pid = _state(run_env)["pid"]
    other = dict(run_env, PIP_TIMEOUT="7")
    replaced = _run([*PIPFF, "run", "--", *PRINT_URL], other, tmp_path)
    assert replaced.returncode == 0, replaced
    assert replaced.stdout.strip() == url
    port = url.split(":")[2].split("/")[0]
    assert f"pip-ff: replacing your serve on port {port} (other options)" in replaced.stderr
    assert _state(run_env)["pid"] != pid
    assert not _alive(int(pid))


def test_a_busy_serve_is_never_replaced_a_run_with_other_options_gets_its_own(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    """A run whose command still uses the serve keeps it: another run with other options
    starts a serve of its own beside it (Gradle's rule), and ``serve stop`` ends both."""
    busy = subprocess.Popen(
        [*PIPFF, "run", "--", sys.executable, "-c",
         "import os, sys, urllib.request; print(os.environ['PIP_INDEX_URL'], flush=True); "
         "sys.stdin.readline(); print(urllib.request.urlopen(os.environ['PIP_INDEX_URL']).status)"],
        env=run_env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert busy.stdout is not None and busy.stdin is not None
        url = busy.stdout.readline().strip()
        pid = int(_state(run_env)["pid"])
        other = dict(run_env, PIP_TIMEOUT="7")
        beside = _run([*PIPFF, "run", "--", *PRINT_URL], other, tmp_path)
        assert beside.returncode == 0, beside
        assert url.startswith("http://127.0.0.1:") and beside.stdout.strip() != url
        port = url.split(":")[2].split("/")[0]
        assert f"your serve on port {port} is in use by another run" in beside.stderr, beside
        assert _url(other, tmp_path) == beside.stdout.strip()  # found again, same port
        assert int(_state(run_env)["pid"]) == pid and _alive(pid)
        busy.stdin.write("\n")
        busy.stdin.flush()
        out, err = busy.communicate(timeout=300)
        assert busy.returncode == 0 and out.split()[-1] == "200", (out, err)
    finally:
        if busy.poll() is None:
            busy.kill()
            busy.communicate()
    stopped = _serve(run_env, "stop", tmp_path)
    assert stopped.stdout.count("stopped the serve on port") == 2, stopped
    deadline = time.monotonic() + 60
    while _alive(pid):  # its port is closed; the process ends a moment after
        assert time.monotonic() < deadline, "the busy serve did not stop"
        time.sleep(0.1)


def test_a_foreign_program_on_the_kept_port_is_never_used(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    url = _url(run_env, tmp_path)
    port = int(url.split(":")[2].split("/")[0])
    assert _serve(run_env, "stop", tmp_path).returncode == 0
    # Another program takes the port: an HTTP server answering every request with a page.
    foreign, asked = _foreign_program(port)
    try:
        moved = _run([*PIPFF, "run", "--", *PRINT_URL], run_env, tmp_path)
        assert moved.returncode == 0, moved
        assert moved.stdout.strip() != url
        told = [line for line in moved.stderr.splitlines() if f"port {port}" in line]
        assert len(told) == 1 and "not as your serve" in told[0], moved.stderr
        assert all(b"/simple/" not in request for request in asked)  # only the challenge
        assert _url(run_env, tmp_path) == moved.stdout.strip()  # its new port is kept
    finally:
        foreign.close()


def _foreign_program(port: int) -> tuple[socket.socket, list[bytes]]:
    """Another program on ``port`` (once a stopped or killed serve's socket is gone: the
    kernel may take a moment): it answers every request with a page that proves nothing,
    and keeps each request it got. Close the socket to end it."""
    deadline = time.monotonic() + 15
    while True:
        try:
            foreign = socket.create_server(("127.0.0.1", port))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    asked: list[bytes] = []

    def answer() -> None:
        while True:
            try:
                connection, _ = foreign.accept()
            except OSError:
                return
            with connection:
                asked.append(connection.recv(65536))
                body = b"proof 0\npid 1\n"
                connection.sendall(
                    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    threading.Thread(target=answer, daemon=True).start()
    return foreign, asked


def test_a_private_serves_token_never_goes_to_a_program_that_took_its_port(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    """A serve killed outright leaves its state; the next run challenges the kept port before
    it sends anything else, and a program that took the port meanwhile gets the challenge,
    never the token of the private index (#33)."""
    seen = _run([*PIPFF, "run", "--require-token", "--", *PRINT_URL], run_env, tmp_path)
    assert seen.returncode == 0, seen
    url = seen.stdout.strip()
    port = int(url.split(":")[2].split("/")[0])
    token = url.split("/")[3]
    assert len(token) >= 24, url
    state_text = (per_user_state_dir(run_env) / "state").read_text()
    pid = next(int(line[4:]) for line in state_text.splitlines() if line.startswith("pid "))
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    foreign, asked = _foreign_program(port)
    try:
        moved = _run([*PIPFF, "run", "--require-token", "--", *PRINT_URL], run_env, tmp_path)
        assert moved.returncode == 0, moved
        assert asked, "the kept port was never challenged"
        assert all(token.encode() not in request for request in asked), asked
        assert moved.stdout.strip() != url
    finally:
        foreign.close()


def test_a_run_inside_a_run_reuses_its_serve(run_env: dict[str, str], tmp_path: Path) -> None:
    """A ``pip-ff run`` inside another one's command (tox calling a script that calls it, say)
    reuses the outer serve: the variables the outer run set are not other options."""
    inner = [*PIPFF, "run", "--", *PRINT_URL]
    nested = _run([*PIPFF, "run", "--", *inner], run_env, tmp_path)
    assert nested.returncode == 0, nested
    assert "replacing your serve" not in nested.stderr, nested.stderr
    assert nested.stdout.strip() == _url(run_env, tmp_path)
    log = (per_user_state_dir(run_env) / "serve.log").read_text()
    assert log.count("index URL") == 1, log
    # With its serve up, run costs next to nothing over its command: it adds to what the
    # interpreter's start imported pip-ff's run modules and a few C modules, nothing else (no
    # pip, no logging; not hashlib, socket, signal or contextlib either: 25 ms a run, #32).
    probe = (
        "import sys; before = set(sys.modules); from pip_offline_fallback.launch import main; "
        f"code = main(['run', '--', {sys.executable!r}, '-c', 'pass']); "
        "print(code, *sorted(set(sys.modules) - before))"
    )
    seen = _run([sys.executable, "-c", probe], run_env, tmp_path)
    code, *added = seen.stdout.split()
    assert code == "0", seen
    allowed = {f"pip_offline_fallback.{m}" for m in RUN_MODULES} | set(RUN_C_MODULES)
    assert set(added) <= allowed | {"pip_offline_fallback"}, sorted(set(added) - allowed)


# What ``pip-ff run`` imports with its serve up (launch.py, serve/run.py): pip-ff's modules,
# modules built into the interpreter or in C (SHA-256 is _sha2 from Python 3.12), and
# __future__ (what ``from __future__ import annotations`` loads).
RUN_MODULES = ("launch", "serve", "serve.run", "serve.daemon", "serve.proving", "serve.state",
               "serve.callerpaths", "serve.digest", "serve.lockfiles", "serve.childindex",
               "oslock")  # fmt: skip
RUN_C_MODULES = ("__future__", "_socket", "_sha2", "_sha256", "_operator", "_signal", "time",
                 "fcntl")  # fmt: skip


def test_two_runs_started_at_once_end_up_with_one_serve(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    runs = [
        subprocess.Popen(
            [*PIPFF, "run", "--", *PRINT_URL],
            env=run_env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert len({out.strip() for out, _ in outputs}) == 1, outputs
    log = (per_user_state_dir(run_env) / "serve.log").read_text()
    assert log.count("index URL") == 1, log


def test_the_serve_holds_none_of_the_callers_streams(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [*PIPFF, "run", "--", sys.executable, "-c", "pass"],
        env=run_env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done
    assert time.monotonic() - started < 120  # not "until the serve ends" (hours)
    assert _serve(run_env, "status", tmp_path).returncode == 0  # and the serve still runs


def test_an_idle_serve_ends_itself(run_env: dict[str, str], tmp_path: Path) -> None:
    idle = dict(run_env, PIPFF_SERVE_IDLE="2")
    assert _url(idle, tmp_path)
    pid = int(_state(idle)["pid"])
    deadline = time.monotonic() + 120
    while _alive(pid):  # watched without a request: a request is activity
        assert time.monotonic() < deadline, "the idle serve is still running"
        time.sleep(0.2)
    assert not (per_user_state_dir(idle) / "state").exists()
    assert "idle for" in (per_user_state_dir(idle) / "serve.log").read_text()
    assert _serve(idle, "status", tmp_path).returncode == 1
    # Not while a run's command runs, even one that makes no request for a while.
    slow = _run(
        [*PIPFF, "run", "--", sys.executable, "-c",
         "import os, time, urllib.request; time.sleep(5); "
         "print(urllib.request.urlopen(os.environ['PIP_INDEX_URL']).status)"],
        idle,
        tmp_path,
    )  # fmt: skip
    assert slow.returncode == 0 and slow.stdout.strip() == "200", slow
    bad = _run([*PIPFF, "run", "--idle-timeout", "soon", "--", "true"], run_env, tmp_path)
    assert bad.returncode == 2 and "idle timeout 'soon'" in bad.stderr, bad


def test_a_poetry_lock_naming_another_index_gets_one_line(tmp_path: Path) -> None:
    from pip_offline_fallback.serve.lockfiles import mismatches

    served = "http://127.0.0.1:40123/simple/"
    (tmp_path / "poetry.lock").write_text(
        '[[package]]\nname = "a"\nversion = "1"\n\n[package.source]\ntype = "legacy"\n'
        'url = "https://user:secret@private.invalid/simple"\nreference = "corp"\n\n'
        '[[package]]\nname = "b"\nversion = "1"\n\n[package.source]\ntype = "legacy"\n'
        f'url = "{served}"\nreference = "local"\n'
    )
    (line,) = mismatches(str(tmp_path), served)
    assert line.startswith("pip-ff: poetry.lock names https://private.invalid/simple, not ")
    assert "secret" not in line and "docs/serve.md" in line
    (tmp_path / "poetry.lock").write_text(f'[[package]]\n\n[package.source]\nurl = "{served}"\n')
    assert mismatches(str(tmp_path), served) == []
    # A private serve's token is a credential: the line names serve's URL without it.
    token = "T" * 32
    (line,) = mismatches(str(tmp_path), f"http://127.0.0.1:40123/{token}/simple/")
    assert token not in line and "http://127.0.0.1:40123/<token>/simple/" in line, line


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_the_serves_command_line_shows_no_credentials(
    run_env: dict[str, str], tmp_path: Path, index: IndexServer
) -> None:
    """Any local user can read a process's command line: run's options (an index URL with a
    password, say) reach the serve through its environment instead."""
    with_password = index.url.replace("http://", "http://someone:s3cret-pw@")
    seen = _run([*PIPFF, "run", "-i", with_password, "--", *PRINT_URL], run_env, tmp_path)
    assert seen.returncode == 0, seen
    assert "s3cret-pw" not in seen.stdout + seen.stderr
    pid = _state(run_env)["pid"]
    command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert b"pip_offline_fallback" in command_line and b"s3cret-pw" not in command_line
    assert b"s3cret-pw" not in (per_user_state_dir(run_env) / "serve.log").read_bytes()


def test_the_serve_runs_in_its_own_directory_with_runs_relative_paths_absolute(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    # A run called from a directory holding a pip_offline_fallback package (a checkout, or a
    # project's directory so named): ``python -m`` in that directory would import it in the
    # serve. The serve starts in its state directory instead, and run's relative paths (here
    # --wheelhouse ./wh, which serve checks is a directory) still name the caller's.
    project = tmp_path / "project"
    fake = project / "pip_offline_fallback"
    fake.mkdir(parents=True)
    marker = tmp_path / "imported"
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit(9)\n")
    (project / "wh").mkdir()
    pipff = str(Path(sys.executable).with_name("pip-ff"))  # not -m: that would import it here
    seen = _run([pipff, "--wheelhouse", "./wh", "run", "--", *PRINT_URL], run_env, project)
    assert seen.returncode == 0 and seen.stdout.startswith("http://127.0.0.1:"), seen
    assert not marker.exists()
    if Path("/proc/self/cwd").exists():
        where = per_user_state_dir(run_env)
        assert os.readlink(f"/proc/{_state(run_env)['pid']}/cwd") == str(where)
