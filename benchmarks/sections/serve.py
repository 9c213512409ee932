"""9: ``pip-ff serve`` (issue 25): uv and pip through it, online and with the index stopped,
32 concurrent page requests, and serve's peak RSS.

serve runs for the whole section, started by a launcher like every measured command (so its
peak RSS is its own), against a loopback index of this section's own that is stopped halfway:
a real outage. uv comes from PyPI at its pinned version (requirements/tools/uv.txt); when it
can't be installed the uv rows say why. Every command is isolated from the machine's pip and uv
configuration (no PIP_*/UV_* variables inherited, PIP_CONFIG_FILE=/dev/null, UV_NO_CONFIG=1,
caches of its own).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from benchmarks.bench import INSTALL_TIMEOUT, PIP, PIPFF, Bench
from benchmarks.harness import BenchmarkError, Comparison, Sample, interleave, measure
from testbed import IndexServer, clone_venv, isolated_env

TARGET_UV_ONLINE = 1.10
TARGET_UV_OFFLINE = 1.5
TARGET_PIP_OFFLINE = 1.05
CLIENTS = 32
REQUESTS_PER_CLIENT = 20

# harness's launcher, plus: SIGTERM to the launcher is passed on to the command (serve stops
# cleanly and the launcher still reports its peak RSS).
_LAUNCHER = """
import json, os, signal, sys, time
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(report, "w") as f:
    json.dump([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
               os.waitstatus_to_exitcode(status)], f)
"""


def _env(cache: Path, **extra: str) -> dict[str, str]:
    """isolated_env, minus every inherited UV_* variable, uv's configuration off."""
    env = {k: v for k, v in isolated_env(cache).items() if not k.upper().startswith("UV_")}
    env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1", **extra)
    return env


def install_uv(bench: Bench) -> tuple[Path | None, str]:
    """uv at its pin in a venv of its own (a clone of the template); (None, why) if it can't.

    Rows 9 and 9r both need it: the second call of a run reuses what the first installed.
    """
    pins = bench.repo / "requirements" / "tools" / "uv.txt"
    uv = bench.work / "uv-tool" / "bin" / "uv"
    if uv.exists():
        version = subprocess.run(
            [str(uv), "--version"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0:
            return uv, version.stdout.strip()
    venv = clone_venv(bench.template, bench.work / "uv-tool")
    # The one step that may use the network: the machine's pip configuration reaches PyPI.
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIPFF", "UV_"))}
    done = subprocess.run(
        [str(venv.python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", str(pins)],
        env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
    )  # fmt: skip
    uv = venv.path / "bin" / "uv"
    if done.returncode != 0 or not uv.exists():
        return None, f"uv could not be installed from {pins.name}: {done.stderr.strip()[-300:]}"
    version = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=False)
    return uv, version.stdout.strip()


class _Serve:
    """``pip-ff serve --port 0 -i INDEX`` under the launcher, for the whole section."""

    def __init__(self, bench: Bench, index_url: str) -> None:
        self.venv = bench.fresh_venv()
        self.cache = bench.fresh("serve-cache")
        self.report = bench.fresh("serve-usage").with_suffix(".json")
        self.log = bench.fresh("serve-log").with_suffix(".txt")
        argv = [str(self.venv.python), "-m", PIPFF, "serve", "--port", "0", "-i", index_url]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(self.report), *argv],
                env=isolated_env(self.cache), cwd=bench.cwd, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while "index URL " not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchmarkError(f"pip-ff serve did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        self.url = self.output().split("index URL ", 1)[1].split()[0]

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> dict[str, Any]:
        """Stop serve (SIGTERM, passed on by the launcher): its wall, CPU and peak RSS."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(OSError, ValueError), open(self.report) as f:
            wall, cpu, maxrss_kib, code = json.load(f)
            return {"wall": wall, "cpu": cpu, "maxrss_mib": maxrss_kib / 1024, "returncode": code}
        return {"error": "no report from the launcher", "output": self.output()[-600:]}


def _uv(
    bench: Bench, uv: Path, label: str, url: str, state: Path | None, *, offline: bool = False
) -> Sample:
    """``uv pip install`` of the workload into a fresh venv, with a private copy of the uv
    cache ``state`` (an empty one for None)."""
    venv = bench.fresh_venv()
    cache, pip_cache = bench.cache_from(state), bench.fresh("cache")
    flags = ["--offline"] if offline else []
    argv = [str(uv), "pip", "install", "-p", str(venv.python), *flags, "--default-index", url,
            *bench.synthetic.requirements]  # fmt: skip
    env = _env(pip_cache, UV_CACHE_DIR=str(cache))
    try:
        sample = measure(label, argv, env, timeout=INSTALL_TIMEOUT, cwd=bench.cwd)
        return bench.check_install(sample, venv)
    finally:
        bench.discard(venv.path, pip_cache, cache)


def _uv_warm(bench: Bench, uv: Path, name: str, url: str) -> Path:
    """The uv cache one online ``uv pip install`` from ``url`` leaves (uv keys it by URL)."""
    state = bench.work / f"state-{name}"
    venv = bench.fresh_venv()
    argv = [str(uv), "pip", "install", "-p", str(venv.python), "--default-index", url,
            *bench.synthetic.requirements]  # fmt: skip
    env = _env(bench.fresh("cache"), UV_CACHE_DIR=str(state))
    bench.check_install(measure(f"warm-up {name}", argv, env, cwd=bench.cwd), venv)
    bench.discard(venv.path)
    return state


def _uv_offline(
    bench: Bench, uv: Path, index: str, floor: Path, serve: str, state: Path | None
) -> dict[str, Any]:
    """Index stopped: uv through serve from the uv cache ``state`` vs the floor."""
    label = f"uv through serve ({'warm' if state else 'cold'}), index down"
    return interleave(
        Comparison(f"uv, index stopped, {label}", "uv --offline (warm)", label),
        bench.plan.outage_pairs,
        lambda i: _uv(bench, uv, "uv --offline (warm)", index, floor, offline=True),
        lambda i: _uv(bench, uv, label, serve, state),
        bench.log,
    ).as_json()


def _concurrent(url: str, names: list[str]) -> dict[str, Any]:
    """CLIENTS threads, each with its own connection, REQUESTS_PER_CLIENT project pages each
    (HTML and PEP 691 JSON alternately); every answer must be a 200."""
    parts = urllib.parse.urlsplit(url)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    go = threading.Event()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
        try:
            go.wait()
            for i in range(REQUESTS_PER_CLIENT):
                name = names[(n + i) % len(names)]
                accept = "application/vnd.pypi.simple.v1+json" if i % 2 else "text/html"
                start = time.perf_counter()
                conn.request("GET", f"{parts.path}{name}/", headers={"Accept": accept})
                response = conn.getresponse()
                response.read()
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    if response.status != 200:
                        failures.append(f"{name}: {response.status}")
        except (OSError, http.client.HTTPException) as exc:
            with lock:
                failures.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise BenchmarkError(f"concurrent page requests failed: {failures[:5]}")
    return {
        "requests": len(latencies),
        "clients": CLIENTS,
        "wall": wall,
        "per_second": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000,
        "max_ms": max(latencies) * 1000,
    }


def run(bench: Bench) -> None:
    out: dict[str, Any] = {}
    bench.results["sections"]["serve"] = out
    bench.log("9. pip-ff serve")
    uv, uv_version = install_uv(bench)
    out["uv"] = uv_version if uv else None
    if uv is None:
        out["uv_skipped"] = uv_version
        bench.log(f"  uv rows skipped: {uv_version}")
    reqs = list(bench.synthetic.requirements)
    index = bench.stack.enter_context(IndexServer(bench.dist_dir, cache_headers="none"))
    serve = _Serve(bench, index.url)
    bench.stack.callback(serve.stop)
    try:
        # Warm states, online: pip-ff's own (the fallback's), plain pip's through serve (its
        # wheel cache holds the sdist's built wheel, as the fallback's does), uv's own.
        pipff_state = bench.warm("serve-pipff", PIPFF, ["-i", index.url, *reqs])
        pip_state = bench.warm("serve-pip", PIP, ["-i", serve.url, *reqs])
        names = sorted(bench.synthetic.expected)
        if uv is not None:
            uv_direct = _uv_warm(bench, uv, "uv-direct", index.url)
            uv_served = _uv_warm(bench, uv, "uv-served", serve.url)
            out["uv_online"] = interleave(
                Comparison("uv online, cold uv cache", "uv to the index", "uv through serve"),
                bench.plan.online_pairs,
                lambda i: _uv(bench, uv, "uv to the index", index.url, None),
                lambda i: _uv(bench, uv, "uv through serve", serve.url, None),
                bench.log,
            ).as_json()
        out["concurrent_online"] = _concurrent(serve.url, names)
        bench.log(f"  32 clients online: {out['concurrent_online']}")
        index.stop()  # the outage: the port now refuses
        if uv is not None:
            out["uv_offline"] = _uv_offline(bench, uv, index.url, uv_direct, serve.url, uv_served)
            out["uv_offline_cold"] = _uv_offline(bench, uv, index.url, uv_direct, serve.url, None)
        out["pip_offline"] = interleave(
            Comparison("pip, index stopped", "pip-ff fallback", "pip through serve"),
            bench.plan.outage_pairs,
            lambda i: bench.install(
                "pip-ff fallback", PIPFF, pipff_state, ["-i", index.url, *reqs],
                expect_fallback=True,
            ),
            lambda i: bench.install("pip through serve", PIP, pip_state, ["-i", serve.url, *reqs]),
            bench.log,
        ).as_json()  # fmt: skip
        out["concurrent_offline"] = _concurrent(serve.url, names)
        bench.log(f"  32 clients, index down: {out['concurrent_offline']}")
    finally:
        out["serve_process"] = serve.stop()
        out["serve_outage_lines"] = serve.output().count("is unreachable")
    bench.log(f"  serve: {out['serve_process']}")


# -- the report ----------------------------------------------------------------------------


def _ratio(comp: dict[str, Any], metric: str = "wall") -> tuple[float, str]:
    r = [b[metric] / a[metric] for a, b in zip(comp["a"], comp["b"])]
    med = statistics.median(r)
    return med, f"{med:.3f} ({min(r):.2f}-{max(r):.2f}), {len(r)} pairs"


def _med(samples: list[dict[str, Any]], metric: str = "wall") -> float:
    return statistics.median(s[metric] for s in samples)


def report_rows(data: dict[str, Any] | None) -> list[tuple[list[str], bool | None, str]]:
    """Row 9's cells (number, measure, baseline, pip-ff, ratio, target), verdict and label."""
    if not data:
        return []
    rows: list[tuple[list[str], bool | None, str]] = []
    uv = f"uv {data['uv'].split()[1]}" if data.get("uv") else "uv"
    comps = (
        ("uv_online", f"{uv} through serve, online, cold uv cache (a) vs {uv} straight to the "
         "index (b)", TARGET_UV_ONLINE),
        ("uv_offline", f"{uv} through serve, index stopped, uv cache warm through serve (a) vs "
         "uv `--offline` from its own warm cache (b, the floor)", TARGET_UV_OFFLINE),
        ("uv_offline_cold", f"{uv} through serve, index stopped, cold uv cache (a) vs uv "
         "`--offline` from its own warm cache (b)", None),
        ("pip_offline", "pip (without pip-ff) through serve, index stopped (a) vs `pip-ff "
         "install`'s fallback (b)", TARGET_PIP_OFFLINE),
    )  # fmt: skip
    for key, measure_text, target in comps:
        comp = data.get(key)
        if comp is None:
            reason = data.get("uv_skipped", "not measured")
            rows.append((["9", measure_text, "skipped", "", "", reason], None, f"serve: {key}"))
            continue
        ratio, text = _ratio(comp)
        cells = ["9", measure_text, f"(b) {_med(comp['a']):.2f} s", f"(a) {_med(comp['b']):.2f} s"]
        cells += [
            f"{text}; CPU {_ratio(comp, 'cpu')[0]:.3f}",
            f"<= {target}" if target else "(reported)",
        ]
        rows.append((cells, ratio <= target if target else None, f"serve: {key}"))
    for key, when in (("concurrent_online", "online"), ("concurrent_offline", "index stopped")):
        c = data.get(key)
        if c:
            detail = f"p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms, max {c['max_ms']:.1f} ms"
            cells = ["9", f"{c['clients']} concurrent clients, {c['requests']} project pages "
                     f"(HTML and JSON), {when}", "", f"{c['per_second']:.0f} pages/s", detail,
                     "(reported)"]  # fmt: skip
            rows.append((cells, None, f"serve: concurrent {when}"))
    proc = data.get("serve_process", {})
    if "maxrss_mib" in proc:
        fallback = data.get("pip_offline")
        base = ""
        if fallback:
            base = f"pip-ff fallback install {_med(fallback['a'], 'maxrss_mib'):.1f} MiB"
        cells = [
            "9",
            "peak RSS of `pip-ff serve` over the whole row (every run above)",
            base,
            f"{proc['maxrss_mib']:.1f} MiB",
            f"CPU {proc['cpu']:.1f} s in {proc['wall']:.0f} s",
            "(reported)",
        ]
        rows.append((cells, None, "serve: peak RSS"))
    return rows


METHOD = (
    "- **9. serve** (benchmarks/sections/serve.py): one `pip-ff serve --port 0 -i INDEX` for "
    "the whole row, started by the launcher (its peak RSS is its own), over a loopback index "
    "without cache headers that is stopped halfway (the port refuses: a real outage). uv at "
    "its pin (requirements/tools/uv.txt), `uv pip install -p VENV --default-index URL` into a "
    "fresh venv; cold: an empty uv cache; warm: a copy of the uv cache one online run through "
    "serve left (uv keys its cache by index URL); the floor: `--offline` from a copy of the "
    "uv cache one online run straight to the index left. pip: plain `python -m pip` (PIPFF "
    "unset) through serve from a copy of the pip cache one online pip run through serve left, "
    "against `pip-ff install` from a copy of its own warm cache (pip's caches and the "
    "record). Every command: no inherited PIP_*/UV_* variables, PIP_CONFIG_FILE=/dev/null, "
    "UV_NO_CONFIG=1, caches of its own. Concurrency: 32 threads of the benchmark process, "
    "one keep-alive connection each, 20 project pages each (HTML and PEP 691 JSON "
    "alternately); the client shares the 2 cores with serve."
)
