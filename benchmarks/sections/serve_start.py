"""9r's new serve: from its start to its first answer, against ``python -m http.server``'s, and
where that time goes (``python -X importtime`` and cProfile of one start each).

A new per-user serve is started as ``pip-ff run`` starts it (``pip-ff serve --state-dir DIR``),
on a port chosen here, with a state directory and a record of its own, and asked for one
project page as soon as its port accepts a connection.
"""

from __future__ import annotations

import contextlib
import os
import pstats
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.bench import PIPFF, Bench
from benchmarks.harness import BenchmarkError

PAGE = "bench-cli"  # the project page a new serve is asked first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float | None:
    """A live process's user + system CPU so far (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _first_answer(
    argv: list[str], env: dict[str, str], port: int, path: str, cwd: Path, log: Path
) -> dict[str, Any]:
    """Start ``argv`` (a server on ``port``), ask it for ``path`` as soon as it accepts a
    connection: seconds from the start to the whole answer, and the server's CPU by then."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = start + 120
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=120)
                break
            except ConnectionRefusedError:
                if process.poll() is not None or time.perf_counter() > deadline:
                    raise BenchmarkError(
                        f"{argv[2:5]} did not listen:\n{log.read_text(errors='replace')[-2000:]}"
                    ) from None
                time.sleep(0.002)
        connected = time.perf_counter() - start
        with conn:
            conn.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        wall = time.perf_counter() - start
        cpu = _cpu_seconds(process.pid)
        if not data.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
            raise BenchmarkError(f"first answer of {argv[2:5]}: {data[:200]!r}")
        return {"wall": wall, "connected": connected, "cpu": cpu}
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _state_dir(bench: Bench) -> Path:
    state_dir = bench.fresh("first-state")
    state_dir.mkdir(mode=0o700)
    return state_dir


def _new_serve(
    bench: Bench, python: Path, index_url: str, port: int, *pre: str, state_dir: Path
) -> list[str]:
    """A new per-user serve (what ``pip-ff run`` starts detached), on ``port``, in
    ``state_dir``; ``pre``: interpreter options before ``-m``."""
    return [
        str(python),
        *pre,
        "-m",
        PIPFF,
        "serve",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--fingerprint",
        "bench",
        "-i",
        index_url,
    ]


def first_answers(
    bench: Bench, python: Path, env: dict[str, str], index_url: str, runs: int
) -> dict[str, Any]:
    """A new serve's first answer vs ``python -m http.server``'s, in pairs (index up).

    Every serve starts in one state directory, as a user's next serve starts in the one the
    serve before it left (after an idle stop, say), with a record of its own; one start before
    the pairs, unmeasured, leaves what a serve keeps there (pip's User-Agent)."""
    serve_side: list[dict[str, Any]] = []
    http_side: list[dict[str, Any]] = []
    state_dir = _state_dir(bench)
    own = dict(env, PIPFF_STORE=str(bench.fresh("first-store")))
    port = _free_port()
    argv = _new_serve(bench, python, index_url, port, state_dir=state_dir)
    _first_answer(argv, own, port, f"/simple/{PAGE}/", bench.cwd, bench.fresh("first-log"))
    for i in range(runs):
        order = ("serve", "http") if i % 2 == 0 else ("http", "serve")
        for side in order:
            port = _free_port()
            if side == "serve":
                own = dict(env, PIPFF_STORE=str(bench.fresh("first-store")))
                argv = _new_serve(bench, python, index_url, port, state_dir=state_dir)
                serve_side.append(
                    _first_answer(
                        argv, own, port, f"/simple/{PAGE}/", bench.cwd, bench.fresh("first-log")
                    )
                )
            else:
                argv = [
                    str(python),
                    "-m",
                    "http.server",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    str(bench.dist_dir),
                ]
                http_side.append(
                    _first_answer(argv, env, port, "/", bench.cwd, bench.fresh("first-log"))
                )
        bench.log(
            f"  first answer {i + 1}/{runs}: serve {serve_side[-1]['wall']:.3f} s, "
            f"http.server {http_side[-1]['wall']:.3f} s"
        )
    return {"serve": serve_side, "http_server": http_side}


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def start_profile(
    bench: Bench, python: Path, env: dict[str, str], index_url: str
) -> dict[str, Any]:
    """One new serve under ``-X importtime`` and one under cProfile, each stopped (SIGTERM,
    a clean stop: cProfile writes its file) right after its first answer, in a state
    directory a serve before them left (as :func:`first_answers`)."""
    out: dict[str, Any] = {}
    state_dir = _state_dir(bench)
    port = _free_port()
    own = dict(env, PIPFF_STORE=str(bench.fresh("first-store")))
    argv = _new_serve(bench, python, index_url, port, state_dir=state_dir)
    _first_answer(argv, own, port, f"/simple/{PAGE}/", bench.cwd, bench.fresh("first-log"))
    log = bench.fresh("importtime-log")
    port = _free_port()
    own = dict(env, PIPFF_STORE=str(bench.fresh("first-store")))
    argv = _new_serve(bench, python, index_url, port, "-X", "importtime", state_dir=state_dir)
    out["importtime_run"] = _first_answer(argv, own, port, f"/simple/{PAGE}/", bench.cwd, log)
    top: list[tuple[str, int]] = []
    for match in _IMPORT_LINE.finditer(log.read_text(errors="replace")):
        depth = len(match.group(3)) // 2
        if depth <= 1:  # a module the start imported itself, or its direct import
            top.append((("  " * depth) + match.group(4), int(match.group(2))))
    total = sum(us for name, us in top if not name.startswith(" "))
    out["imports_total_ms"] = total / 1000
    out["imports_top_ms"] = [(n, us / 1000) for n, us in sorted(top, key=lambda t: -t[1])[:15]]
    prof = bench.fresh("serve-start").with_suffix(".prof")
    port = _free_port()
    own = dict(env, PIPFF_STORE=str(bench.fresh("first-store")))
    argv = _new_serve(
        bench, python, index_url, port, "-m", "cProfile", "-o", str(prof), state_dir=state_dir
    )
    out["cprofile_run"] = _first_answer(
        argv, own, port, f"/simple/{PAGE}/", bench.cwd, bench.fresh("cprofile-log")
    )
    with contextlib.suppress(OSError):
        stats = pstats.Stats(str(prof))
        rows = []
        for (file, line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            if "pip_offline_fallback" in file or "/pip/" in file or "waitress" in file:
                short = file.split("site-packages/")[-1]
                rows.append((f"{short}:{line}({name})", ct))
        rows.sort(key=lambda r: -r[1])
        out["cprofile_total_s"] = stats.total_tt  # type: ignore[attr-defined]
        out["cprofile_top_s"] = rows[:25]
    return out
