"""9r: ``pip-ff run`` (issue 32): uv through this user's serve, ``run -- true``, and a new
serve's first answer, with a profile of the serve's start.

Every ``pip-ff run`` of the row shares one environment (one venv, one record in PIPFF_STORE, one
pip cache, no pip configuration): the serve's fingerprint, so the first run starts the per-user
serve and every later one reuses it, as a user's runs do. uv's cache (UV_CACHE_DIR) is not in
the fingerprint and is each command's own copy. The loopback index is stopped halfway; the
serve is stopped (``pip-ff serve stop`` with the same environment) when the row ends, however
it ends. Run it alone with ``python -m benchmarks.run --only r``.
"""

from __future__ import annotations

import re
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench import INSTALL_TIMEOUT, PIPFF, Bench
from benchmarks.harness import BenchmarkError, Comparison, Sample, interleave, measure
from benchmarks.sections import serve_start
from benchmarks.sections.serve import _env, _uv, _uv_warm, install_uv
from testbed import IndexServer, Venv

TARGET_ONLINE = 1.10  # uv through run vs uv straight to the index
TARGET_OFFLINE = 1.5  # uv through run, index stopped, vs uv --offline
TARGET_TRUE_EXTRA = 0.1  # seconds: run -- true over python -c pass
TARGET_FIRST_ANSWER = 0.3  # seconds from a new serve's start to its first page


class _Run:
    """``pip-ff run -i INDEX --idle-timeout 900 -- ...`` in the row's one environment."""

    def __init__(self, bench: Bench, index_url: str) -> None:
        self.venv = bench.fresh_venv()
        self.store = bench.fresh("run-store")
        self.env = _env(bench.fresh("run-pip-cache"), PIPFF_STORE=str(self.store))
        script = self.venv.bin / "pip-ff"
        pipff = [str(script)] if script.exists() else [str(self.venv.python), "-m", PIPFF]
        # The idle timeout only bounds a serve that outlives a crashed run; stop() ends it.
        self.head = [*pipff, "run", "-i", index_url, "--idle-timeout", "900", "--"]

    def argv(self, *command: str) -> list[str]:
        return [*self.head, *command]

    def serve(self, what: str) -> str:
        """``pip-ff serve status`` or ``stop``, with the same environment: its line."""
        done = subprocess.run(
            [str(self.venv.python), "-m", PIPFF, "serve", what],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return (done.stdout + done.stderr).strip()


def _uv_run(bench: Bench, uv: Path, run: _Run, label: str, state: Path | None) -> Sample:
    """``pip-ff run -- uv pip install`` of the workload into a fresh venv, with a private copy of
    the uv cache ``state`` (an empty one for None); uv's index comes from run."""
    venv = bench.fresh_venv()
    cache = bench.cache_from(state)
    argv = run.argv(
        str(uv), "pip", "install", "-p", str(venv.python), *bench.synthetic.requirements
    )
    try:
        sample = measure(
            label,
            argv,
            dict(run.env, UV_CACHE_DIR=str(cache)),
            timeout=INSTALL_TIMEOUT,
            cwd=bench.cwd,
        )
        return bench.check_install(sample, venv)
    finally:
        bench.discard(venv.path, cache)


_ANSWERED = re.compile(r"(files|pages): ([^;]*)")


def _counted(index: IndexServer, one: Callable[[], Sample]) -> Sample:
    """``one()``, with the requests the index got meanwhile and what run's closing line says
    serve answered from local sources (files and pages, all sources together)."""
    before = len(index.requests)
    sample = one()
    sample.extra["index_requests"] = len(index.requests) - before
    closing = [line for line in sample.output.splitlines() if line.startswith("pip-ff: ")]
    for kind, each in _ANSWERED.findall(closing[-1] if closing else ""):
        sample.extra[f"local_{kind}"] = sum(int(n) for n in re.findall(r"(\d+) from", each))
    return sample


def run(bench: Bench) -> None:
    out: dict[str, Any] = {}
    bench.results["sections"]["serve_run"] = out
    bench.log("9r. pip-ff run")
    quick = bench.plan.quick
    uv, uv_version = install_uv(bench)
    out["uv"] = uv_version if uv else None
    if uv is None:
        out["uv_skipped"] = uv_version
        bench.log(f"  uv rows skipped: {uv_version}")
    # PyPI's cache headers (pages max-age=600): a warm uv straight to the index then keeps its
    # pages as it does with PyPI, and through serve too (serve's pages follow the index's).
    index = bench.stack.enter_context(IndexServer(bench.dist_dir, cache_headers="pypi"))
    run_ = _Run(bench, index.url)
    stopped: dict[str, str] = {}

    def stop() -> None:
        if "stop" not in stopped:
            stopped["stop"] = run_.serve("stop")
            stopped["status"] = run_.serve("status")

    bench.stack.callback(stop)
    try:
        out["first_answer"] = serve_start.first_answers(
            bench, run_.venv.python, run_.env, index.url, 2 if quick else 8
        )
        out["start_profile"] = serve_start.start_profile(
            bench, run_.venv.python, run_.env, index.url
        )
        first = measure("first pip-ff run -- true", run_.argv("true"), run_.env, cwd=bench.cwd)
        if first.returncode != 0:
            raise BenchmarkError(f"pip-ff run -- true failed:\n{first.output[-3000:]}")
        out["run_starts_serve"] = first.as_json()
        out["serve_status"] = run_.serve("status")
        bench.log(f"  {out['serve_status']}")
        python = str(run_.venv.python)
        out["run_true"] = interleave(
            Comparison("pip-ff run -- true", "python -c pass", "pip-ff run -- true"),
            2 if quick else max(20, bench.plan.online_pairs),
            lambda i: measure("python -c pass", [python, "-c", "pass"], run_.env, cwd=bench.cwd),
            lambda i: measure("pip-ff run -- true", run_.argv("true"), run_.env, cwd=bench.cwd),
            bench.log,
        ).as_json()
        if uv is not None:
            direct = _uv_warm(bench, uv, "run-direct", index.url)
            through = bench.work / "state-uv-through-run"
            venv = bench.fresh_venv()
            _uv_run_warm = _uv_run_in(bench, uv, run_, venv, through)
            bench.log(f"  warm-up through run: {_uv_run_warm:.2f} s")
            for key, state, label in (
                ("uv_online_warm", direct, "warm"),
                ("uv_online_cold", None, "cold"),
            ):
                out[key] = interleave(
                    Comparison(
                        f"uv online, {label} uv caches", "uv to the index", "uv through pip-ff run"
                    ),
                    bench.plan.online_pairs,
                    lambda i, s=state: _counted(
                        index, lambda: _uv(bench, uv, "uv to the index", index.url, s)
                    ),
                    lambda i, s=(through if state else None): _counted(
                        index, lambda: _uv_run(bench, uv, run_, "uv through pip-ff run", s)
                    ),
                    bench.log,
                ).as_json()
            index.stop()  # the outage: the port now refuses
            floors: dict[str, tuple[str, Callable[[], Sample]]] = {
                # uv's cache warm on both sides: uv --offline from its own warm cache.
                "warm": (
                    "uv --offline (warm)",
                    lambda: _uv(bench, uv, "uv --offline (warm)", index.url, direct, offline=True),
                ),
                # Both caches cold: uv at its own speed with nothing cached, from the same
                # files on disk (it builds the sdist-only project too, as the run side does).
                "cold": ("uv --offline --find-links (cold)", lambda: _uv_wheelhouse(bench, uv)),
            }
            for key, state, label in (
                ("uv_offline_warm", through, "warm"),
                ("uv_offline_cold", None, "cold"),
            ):
                floor_label, floor = floors[label]
                out[key] = interleave(
                    Comparison(
                        f"uv, index stopped, {label} uv cache through run",
                        floor_label,
                        "uv through pip-ff run",
                    ),
                    bench.plan.outage_pairs,
                    lambda i, f=floor: f(),
                    lambda i, s=state: _counted(
                        index, lambda: _uv_run(bench, uv, run_, "uv through pip-ff run", s)
                    ),
                    bench.log,
                ).as_json()
    finally:
        stop()
        out["serve_stop"] = stopped.get("stop", "")
        out["serve_status_after"] = stopped.get("status", "")
        bench.log(f"  {out['serve_stop']}; {out['serve_status_after']}")


def _uv_wheelhouse(bench: Bench, uv: Path) -> Sample:
    """The cold floor: ``uv pip install --offline --no-index --find-links WHEELHOUSE`` (every
    file the index serves) into a fresh venv, with an empty uv cache."""
    venv = bench.fresh_venv()
    cache, pip_cache = bench.cache_from(None), bench.fresh("cache")
    argv = [str(uv), "pip", "install", "-p", str(venv.python), "--offline", "--no-index",
            "--find-links", str(bench.wheelhouse), *bench.synthetic.requirements]  # fmt: skip
    env = _env(pip_cache, UV_CACHE_DIR=str(cache))
    try:
        sample = measure("uv --offline --find-links (cold)", argv, env, timeout=INSTALL_TIMEOUT,
                         cwd=bench.cwd)  # fmt: skip
        return bench.check_install(sample, venv)
    finally:
        bench.discard(venv.path, pip_cache, cache)


def _uv_run_in(bench: Bench, uv: Path, run: _Run, venv: Venv, cache: Path) -> float:
    """The uv cache one online ``pip-ff run -- uv pip install`` leaves in ``cache``."""
    argv = run.argv(
        str(uv), "pip", "install", "-p", str(venv.python), *bench.synthetic.requirements
    )
    sample = measure(
        "warm-up through run",
        argv,
        dict(run.env, UV_CACHE_DIR=str(cache)),
        timeout=INSTALL_TIMEOUT,
        cwd=bench.cwd,
    )
    bench.check_install(sample, venv)
    bench.discard(venv.path)
    return sample.wall


# -- the report ----------------------------------------------------------------------------


def _pairs(comp: dict[str, Any], metric: str = "wall") -> list[float]:
    return [b[metric] / a[metric] for a, b in zip(comp["a"], comp["b"])]


def _med(samples: list[dict[str, Any]], metric: str = "wall") -> float:
    return statistics.median(s[metric] for s in samples)


def _answered(comp: dict[str, Any], *, offline: bool) -> str:
    """Medians of what each side asked: requests at the index (online), and what run's closing
    line says serve answered from pip-ff's record."""

    def med(side: str, key: str) -> str:
        got = [s.get("extra", {}).get(key, 0) for s in comp[side]]
        return f"{statistics.median(got):g}" if got else "?"

    text = ""
    if not offline and "index_requests" in comp["a"][0].get("extra", {}):
        text += f"; requests at the index: (b) {med('a', 'index_requests')}, (a) "
        text += med("b", "index_requests")
    if offline and "index_requests" in comp["b"][0].get("extra", {}):
        text += f"; serve answered from the record: {med('b', 'local_pages')} pages, "
        text += f"{med('b', 'local_files')} files"
    return text


def report_rows(data: dict[str, Any] | None) -> list[tuple[list[str], bool | None, str]]:
    """Row 9r's cells (number, measure, baseline, pip-ff, ratio, target), verdict and label."""
    if not data:
        return []
    rows: list[tuple[list[str], bool | None, str]] = []
    uv = f"uv {data['uv'].split()[1]}" if data.get("uv") else "uv"
    comps = (
        (
            "uv_online_warm",
            f"{uv} through `pip-ff run` (the per-user serve, up), online, uv "
            f"cache warm from one run through it (a) vs {uv} straight to the index, uv cache warm "
            "from one direct run (b)",
            TARGET_ONLINE,
        ),
        (
            "uv_online_cold",
            f"{uv} through `pip-ff run`, online, empty uv cache (serve's record as the runs "
            f"before left it) (a) vs {uv} straight to the index, empty uv cache (b)",
            TARGET_ONLINE,
        ),
        (
            "uv_offline_warm",
            f"{uv} through `pip-ff run`, index stopped, uv cache warm from one "
            f"online run through it (a) vs {uv} `--offline`, uv cache warm from one direct online "
            "run (b)",
            TARGET_OFFLINE,
        ),
        (
            "uv_offline_cold",
            f"{uv} through `pip-ff run`, index stopped, empty uv cache, "
            "everything from pip-ff's record (a) vs uv `--offline --no-index --find-links "
            "WHEELHOUSE` (the same files), empty uv cache (b)",
            TARGET_OFFLINE,
        ),
    )
    for key, text, target in comps:
        comp = data.get(key)
        if comp is None:
            reason = data.get("uv_skipped", "not measured")
            rows.append((["9r", text, "skipped", "", "", reason], None, f"run: {key}"))
            continue
        r = _pairs(comp)
        ratio = statistics.median(r)
        cpu = statistics.median(_pairs(comp, "cpu"))
        cells = [
            "9r",
            text,
            f"(b) {_med(comp['a']):.2f} s",
            f"(a) {_med(comp['b']):.2f} s",
            f"{ratio:.3f} ({min(r):.2f}-{max(r):.2f}), {len(r)} pairs; CPU {cpu:.3f}"
            + _answered(comp, offline=key.startswith("uv_offline")),
            f"<= {target}",
        ]
        rows.append((cells, ratio <= target, f"run: {key}"))
    comp = data.get("run_true")
    if comp:
        diffs = [b["wall"] - a["wall"] for a, b in zip(comp["a"], comp["b"])]
        extra = statistics.median(diffs)
        cpu = statistics.median(b["cpu"] - a["cpu"] for a, b in zip(comp["a"], comp["b"]))
        cells = [
            "9r",
            "`pip-ff run -- true` with the serve up (a) vs `python -c pass` (b), same venv",
            f"(b) {_med(comp['a']) * 1000:.0f} ms",
            f"(a) {_med(comp['b']) * 1000:.0f} ms",
            f"{extra * 1000:+.0f} ms (pairs {min(diffs) * 1000:+.0f} to "
            f"{max(diffs) * 1000:+.0f}), {len(diffs)} pairs; CPU {cpu * 1000:+.0f} ms",
            f"<= +{TARGET_TRUE_EXTRA} s",
        ]
        rows.append((cells, extra <= TARGET_TRUE_EXTRA, "run: run -- true"))
    first = data.get("first_answer")
    if first:
        serve = first["serve"]
        cpus = [s["cpu"] for s in serve if s.get("cpu") is not None]
        wall = _med(serve)
        detail = (
            f"{len(serve)} pairs, serve {min(s['wall'] for s in serve):.3f}-"
            f"{max(s['wall'] for s in serve):.3f} s; listening after "
            f"{_med(serve, 'connected'):.3f} s"
        )
        if cpus:
            detail += f"; serve's CPU by its first answer {statistics.median(cpus):.2f} s"
        cells = [
            "9r",
            "a new per-user serve: from its start to its first project page (index "
            "up) (a) vs `python -m http.server`'s first page (b)",
            f"(b) {_med(first['http_server']):.3f} s",
            f"(a) {wall:.3f} s",
            detail,
            f"<= {TARGET_FIRST_ANSWER} s",
        ]
        rows.append((cells, wall <= TARGET_FIRST_ANSWER, "run: first answer"))
    return rows


METHOD = (
    "- **9r. pip-ff run** (benchmarks/sections/serve_run.py; `--only r` runs it alone): every "
    "`pip-ff run -i INDEX -- ...` shares one environment (one venv, its own PIPFF_STORE, one "
    "pip cache, PIP_CONFIG_FILE=/dev/null, no inherited PIP_*/UV_* variables, UV_NO_CONFIG=1), "
    "so the first run starts the per-user serve and every later one reuses it; it is stopped "
    "with `pip-ff serve stop` when the row ends. uv at its pin, `uv pip install -p VENV` into a "
    "fresh venv (its index from run), each command with a private copy of a uv cache: warm, "
    "the cache one online run through `pip-ff run` left; direct warm, the one an online "
    "`--default-index INDEX` run left (also the `--offline` floor's); cold, an empty one. "
    "The serve and its record are the same for the whole row: on the run side, cold means an "
    "empty uv cache and the record as the runs before left it (online, serve then answers "
    "files from its record and asks the index for pages); offline cold, an empty uv cache "
    "and that record, against a cold floor: `uv pip install --offline --no-index --find-links "
    "WHEELHOUSE` (every file the index serves, on disk) with an empty uv cache, so both sides "
    "resolve, install and build the sdist-only project with nothing cached. The index is "
    "PyPI-like (its pages max-age=600, as PyPI's; serve's pages follow the index's: "
    "max-age=600 online, at most 60 s for a page answered while the index is down) and is "
    "stopped after the online "
    "rows (the port refuses). `run -- true` and `python -c pass` use the same venv's Python. "
    "First answer: a new per-user serve (`pip-ff serve --state-dir DIR --port P`, what run "
    "starts detached, with a record of its own, every one in the state directory the one "
    "before left, as a user's next serve; one unmeasured start first) and "
    "`python -m http.server`, each started "
    "and asked for one page as soon as its port accepts a connection, in pairs; the serve's "
    "CPU is read from /proc at its answer."
)


def profile_lines(data: dict[str, Any] | None) -> list[str]:
    """Where a new serve's start goes: the profile's top entries, for the report."""
    prof = (data or {}).get("start_profile")
    if not prof:
        return []
    lines = [
        "## Where a new serve's start goes (row 9r: one start each, stopped at its first answer)",
        "",
        f"`python -X importtime`: {prof['imports_total_ms']:.0f} ms of imports in all (first "
        f"answer after {prof['importtime_run']['wall']:.2f} s under it); the largest, the start's "
        "own imports and (nested) theirs:",
        "",
        "| module | cumulative ms |",
        "| --- | --- |",
        *[f"| `{name.strip()}`{' (nested)' if name.startswith(' ') else ''} | {ms:.0f} |"
          for name, ms in prof["imports_top_ms"][:12]],
        "",
    ]  # fmt: skip
    if "cprofile_top_s" in prof:
        lines += [
            f"cProfile ({prof['cprofile_total_s']:.2f} s profiled, first answer after "
            f"{prof['cprofile_run']['wall']:.2f} s under it), pip-ff's, pip's and waitress's "
            "functions by cumulative time:",
            "",
            "| function | cumulative s |",
            "| --- | --- |",
            *[f"| `{name}` | {sec:.3f} |" for name, sec in prof["cprofile_top_s"][:20]],
            "",
        ]
    return lines
