"""8: where the time goes: installs of each kind under cProfile, their time split by phase.

The rows before this one say how long; this one says why, for the targets they miss. Each
command runs a few times (once with --quick) under ``python -m cProfile`` (the main process
only: pip's build subprocesses are not in it), in a fresh venv with a private copy of its warm
cache, exactly as the measured installs; each number is the median over those runs. cProfile
slows Python code down, so read the split, not the totals.
"""

from __future__ import annotations

import json
import os
import pstats
import statistics
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import workload
from benchmarks.bench import PIP, PIPFF, Bench
from benchmarks.outages import INDEX_KIND, outage

# (key, what it is, how to find it in the profile: (file suffix, function name), cumulative).
# They nest (downloads make requests; the resolver downloads metadata): a column does not add up.
PHASES: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("imports", "importing modules (pip's, pip-ff's, their dependencies)", ("", "_find_and_load")),
    ("resolve", "pip's resolver (`Resolver.resolve`)", ("resolvelib/resolver.py", "resolve")),
    (
        "requests",
        "HTTP requests through pip's session (`requests` `Session.request`)",
        ("requests/sessions.py", "request"),
    ),
    (
        "downloads",
        "pip's downloads of files and metadata (`Downloader.__call__`)",
        ("network/download.py", "__call__"),
    ),
    ("install", "installing (`install_given_reqs`)", ("req/__init__.py", "install_given_reqs")),
    (
        "transport",
        "pip-ff's transport hook, local answers included (`adapter.send`)",
        ("pip_offline_fallback/adapter.py", "send"),
    ),
)
RECORDING = (
    ("pip_offline_fallback/recording.py", "record"),
    ("pip_offline_fallback/store/recorder.py", "write"),
    ("pip_offline_fallback/store/recorder.py", "commit"),
)


def split(path: Path) -> dict[str, Any]:
    """The phases of one profile: seconds (cumulative) and calls for each, pip-ff's own code
    (the time spent in its functions' bodies), and the recording of what came online."""
    stats: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    out: dict[str, Any] = {"total": sum(v[2] for v in stats.values())}

    def find(suffix: str, name: str) -> tuple[float, int]:
        best = (0.0, 0)
        for (filename, _line, function), (_cc, calls, _tt, cum, _callers) in stats.items():
            if function == name and filename.replace(os.sep, "/").endswith(suffix):
                best = max(best, (cum, calls))
        return best

    for key, _what, (suffix, name) in PHASES:
        seconds, calls = find(suffix, name)
        out[key] = {"seconds": seconds, "calls": calls}
    recording = [find(suffix, name) for suffix, name in RECORDING]
    out["recording"] = {"seconds": sum(s for s, _ in recording), "calls": recording[0][1]}
    out["pipff_own"] = {
        "seconds": sum(
            v[2] for k, v in stats.items() if "pip_offline_fallback" in k[0].replace(os.sep, "/")
        ),
        "calls": 0,
    }
    return out


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number's median over the runs (the same keys in each)."""
    first = runs[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = _median_of([r[key] for r in runs])
        else:
            out[key] = statistics.median(r[key] for r in runs)
    return out


def run(bench: Bench) -> None:
    bench.log("8. where the time goes (cProfile)")
    load = bench.synthetic
    reqs = list(load.requirements)
    profiles: dict[str, Any] = {}

    def profiled(
        key: str, label: str, tool: str, state: Path, args: Sequence[str], **kwargs: Any
    ) -> None:
        wrap: Callable[[Sequence[str]], list[str]] = kwargs.pop("wrap", list)
        runs: list[dict[str, Any]] = []
        for i in range(bench.plan.profile_runs):
            out = bench.work / f"profile-{key}-{i}.prof"

            def with_cprofile(argv: Sequence[str], out: Path = out) -> list[str]:
                argv = wrap(argv)
                at = argv.index("-m")  # [..., python, "-m", tool, ...]
                return [*argv[:at], "-m", "cProfile", "-o", str(out), *argv[at:]]

            sample = bench.install(label, tool, state, args, wrap=with_cprofile, **kwargs)
            runs.append({"wall": sample.wall, **split(out)})
        profiles[key] = {"label": label, "runs": len(runs), **_median_of(runs)}
        bench.log(f"  {label}: {profiles[key]['wall']:.2f}s under cProfile (median)")

    wheelhouse = ["--no-index", "--find-links", str(load.wheelhouse), *reqs]
    profiled("c", "pip --no-index --find-links", PIP, bench.warm_wheelhouse, wheelhouse)
    profiled("d", "pip-ff --no-index --find-links", PIPFF, bench.warm_wheelhouse, wheelhouse)
    target = bench.targets.get((load.name, INDEX_KIND["refused"]))
    if target is not None:
        with outage("refused", target.index, bench.resolver) as down:
            profiled(
                "a",
                "pip-ff fallback (index refused)",
                PIPFF,
                target.state,
                ["-i", target.url, *down.args, *reqs],
                wrap=down.wrap,
                expect_fallback=True,
            )
    index = bench.idx_none
    index.start()
    pinned = list(workload.pinned_requirements())
    online = ["-i", index.url, *pinned]
    profiled("pip-online", "pip online, warm, private index", PIP, bench.warm_none, online)
    profiled(
        "prefer-offline",
        "pip-ff --prefer-offline, all pinned",
        PIPFF,
        bench.warm_none,
        ["--prefer-offline", *online],
    )
    profiled("ff-online", "pip-ff online, warm, private index", PIPFF, bench.warm_none, online)
    profiles["per-request"] = per_request(bench)
    bench.results["sections"]["profile"] = profiles


def per_request(bench: Bench) -> dict[str, Any]:
    """benchmarks/recordprobe.py on a copy of the warm private-index state: what recording one
    response of the online path costs, step by step (milliseconds per request)."""
    cache = bench.cache_from(bench.warm_none)
    out = bench.work / "per-request.json"
    probe = Path(__file__).resolve().parents[1] / "recordprobe.py"
    subprocess.run(
        [str(bench.template / "bin" / "python"), str(probe), str(cache / "pip-ff"), str(out)],
        check=True,
        cwd=bench.cwd,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    bench.log(f"  recording: {result['ms']['whole']:.2f} ms per request ({result['requests']})")
    return result


# (key, what it is) of recordprobe.py's steps, in the order a response goes through them.
STEPS = (
    ("open", "the temporary file the body goes to (`Store.recorder`)"),
    ("hash", "sha256 of the body (as the recorder hashes it, on the same bytes)"),
    ("write", "writing the body's second copy (into the page cache)"),
    ("commit", "the commit (`Recorder.commit`): lock, replace check, blob, entry"),
    ("lock", "of which: taking and releasing the store lock"),
    ("check", "of which: the replace check (reads the recorded entry of a file)"),
    ("entry", "of which: writing the entry (a new file renamed over the one recorded before)"),
    ("fsync", "an fsync of the body before its commit (not done: see below)"),
    ("hmac", "the keyed digest of a request's credentials (only requests that carry some)"),
    ("link", "at the end of a command: linking the body with pip's HTTP cache file"),
)


def per_request_markdown(probe: dict[str, Any]) -> list[str]:
    """The per-request table of RESULTS.md (recordprobe.py's medians)."""
    ms = probe["ms"]
    lines = [
        f"Per request of the online path (benchmarks/recordprobe.py: the {probe['requests']} "
        f"bodies, {probe['bytes'] / 2**20:.1f} MiB, of the warm private-index state recorded "
        "again through pip-ff's tap, recorder and store, as an online install records them; "
        "then each step alone on the same bodies; medians of 7 rounds, milliseconds per "
        "request):",
        "",
        "| step | ms per request |",
        "| --- | --- |",
        f"| **recording one response, all of it** (tap, hash, write, commit) | "
        f"**{ms['whole']:.3f}** |",
    ]
    lines += [f"| {what} | {ms[key]:.3f} |" for key, what in STEPS]
    return lines


def markdown(profiles: dict[str, Any]) -> list[str]:
    """The table of RESULTS.md's "Where the time goes" section."""
    keys = [k for k in profiles if k != "per-request"]
    if not keys:
        return []
    lines = [
        "| phase (cumulative seconds under cProfile; calls) | "
        + " | ".join(profiles[k]["label"] for k in keys)
        + " |",
        "| --- |" + " --- |" * len(keys),
        "| whole command (profiled CPU) | "
        + " | ".join(f"{profiles[k]['total']:.2f}" for k in keys)
        + " |",
    ]
    rows = [(key, what) for key, what, _ in PHASES]
    rows += [
        ("recording", "pip-ff's recording of what came online (tee, store writes)"),
        ("pipff_own", "pip-ff's own code (time in its functions' bodies)"),
    ]
    for key, what in rows:
        cells = []
        for k in keys:
            phase = profiles[k][key]
            calls = f" ({phase['calls']})" if phase["calls"] and key != "pipff_own" else ""
            cells.append(f"{phase['seconds']:.2f}{calls}")
        lines.append(f"| {what} | " + " | ".join(cells) + " |")
    return lines


def before_installing(profile: dict[str, Any]) -> float:
    """Profiled time but the installing phase: that phase is the same work in every column
    (the same wheels unpacked and byte-compiled), and the noisiest (the disk)."""
    return float(profile["total"] - profile["install"]["seconds"])


def explain(profiles: dict[str, Any]) -> list[str]:
    """What the profiles say about the gaps, in numbers of this run (profiled seconds; the
    comparisons leave out the installing phase, see :func:`before_installing`)."""
    c, d, a = profiles.get("c"), profiles.get("d"), profiles.get("a")
    out: list[str] = []
    if c and d:
        out.append(
            f"- **pip-ff's fixed cost**, (d) - (c) but installing: "
            f"{before_installing(d) - before_installing(c):+.2f} s for the same install "
            f"(imports {d['imports']['seconds'] - c['imports']['seconds']:+.2f} s: pip-ff's "
            f"modules and packaging; pip-ff's own code {d['pipff_own']['seconds']:.2f} s). "
            "Every command through pip-ff pays it, online too."
        )
    if c and d and a:
        out.append(
            f"- **The fallback's path**, (a) - (d) but installing: "
            f"{before_installing(a) - before_installing(d):+.2f} s. (a) makes "
            f"{a['requests']['calls']} HTTP requests through pip's session, answered locally "
            f"by pip-ff ({a['requests']['seconds']:.2f} s in `Session.request`, of which "
            f"{a['transport']['seconds']:.2f} s in pip-ff's transport hook, verifying and "
            f"serving the record's files), and pip downloads "
            f"{a['downloads']['calls']} files and metadata files through its download path "
            f"({a['downloads']['seconds']:.2f} s: a temporary copy, hashing, progress); (c) "
            f"and (d) make {c['requests']['calls']} and {d['requests']['calls']}: pip opens "
            f"the wheelhouse's files in place. pip's resolver takes "
            f"{a['resolve']['seconds']:.2f} s in (a), {d['resolve']['seconds']:.2f} s in (d) "
            "(index pages to parse, metadata to fetch). pip-ff's own code in (a): "
            f"{a['pipff_own']['seconds']:.2f} s."
        )
    prefer = profiles.get("prefer-offline")
    if prefer and d:
        out.append(
            f"- **Prefer-offline** takes the same path: {prefer['requests']['calls']} requests "
            f"answered locally ({prefer['requests']['seconds']:.2f} s), "
            f"{before_installing(prefer) - before_installing(d):+.2f} s over (d) but "
            "installing."
        )
    pip_online, ff_online = profiles.get("pip-online"), profiles.get("ff-online")
    if pip_online and ff_online:
        out.append(
            f"- **Online** (no cache headers: every file downloaded again): pip-ff's recording "
            f"(hashing and writing a second copy of {ff_online['recording']['calls']} "
            f"responses, committing them to the store) took {ff_online['recording']['seconds']:.2f}"
            f" s of its {ff_online['total']:.2f} s (pip: {pip_online['total']:.2f} s), on top of "
            "the fixed cost above."
        )
    probe = profiles.get("per-request")
    if probe and ff_online:
        ms = probe["ms"]
        out.append(
            f"- **Recording, per request** (the table below): {ms['whole']:.2f} ms of wall time "
            f"per response recorded, {ms['commit']:.2f} ms of it the commit, {ms['entry']:.2f} ms "
            "of that writing the entry (renamed over the one recorded before: here a file "
            "written moments earlier, which costs more to replace than an old one). A body "
            "whose bytes are "
            "already a blob is no longer written over (its copy is dropped): this also keeps "
            "a blob shared with pip's cache shared. pip-ff never fsyncs, like pip's own HTTP "
            f"cache: an fsync would add {ms['fsync']:.2f} ms per request, and a crash can lose "
            "the last entries of a run but never leave a half-written one (every file is "
            "written under a temporary name and renamed; tests/test_store.py kills a run with "
            "SIGKILL mid-record)."
        )
    return out
