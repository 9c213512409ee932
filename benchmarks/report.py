"""The Markdown results (and the chart) from what ``benchmarks.run`` measured."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import gaps
from benchmarks.harness import med as _med
from benchmarks.harness import ratio_text as _ratio_text
from benchmarks.harness import ratios as _ratios
from benchmarks.sections import pip_floor, profile, serve, serve_run

# The targets of issue 17.
TARGET_ONLINE = 1.02
TARGET_OUTAGE = 1.05
CONNECT_DEADLINE = 2.0  # pip-ff's default connect deadline, seconds
TARGET_DECISION = {
    "refused": 0.05,
    "dns": 0.05,
    "blackhole": CONNECT_DEADLINE + 0.5,
    "proxy-connect-503": 0.05,
    "proxy-hung": CONNECT_DEADLINE + 0.5,
}
# Black hole and hung proxy: at most the connect deadline once per run, whatever the number of
# hosts (row 2w).
WAIT_MODES = ("blackhole", "proxy-hung")
TARGET_SCALE = 1.05
TARGET_MEMORY = 1.05
TARGET_PREFER_OFFLINE = 0.35
# A dead fallback index costs what a dead primary costs: one decision, then it is skipped.
TARGET_CHAIN_EXTRA = {"refused": 0.5, "blackhole": 2.0 + 0.5}
CHAIN_NAMES = {"refused": "refused", "blackhole": "a black hole"}

MODE_NAMES = {
    "refused": "refused (index stopped)",
    "dns": "DNS failure (`.invalid` name, NXDOMAIN)",
    "blackhole": "black hole (SYNs unanswered)",
    "proxy-connect-503": "https index, proxy answers CONNECT with 503",
    "proxy-hung": "https index, proxy accepts and never answers CONNECT",
    "proxy-http-503": "plain-http index, proxy answers 503 (the retry case)",
    # Runs before the proxy rows were split (a plain-http index behind a 503 proxy).
    "proxy-503": "plain-http index, proxy answers 503",
}


def _decision_cause(mode: str, data: dict[str, Any]) -> str:
    if mode == "blackhole":
        return "the connect deadline for a request that has a local answer, 2 s by default"
    if mode == "proxy-hung":
        return "the connect deadline, 2 s by default, for the proxy's CONNECT"
    if mode in ("proxy-503", "proxy-http-503"):
        return (
            "pip's retry policy retries 500/503/520/527 answers with back-off, "
            "0 + 0.5 + 1 + 2 + 4 s, and pip-ff's fast path keeps those retries"
        )
    return "see the decision runs"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def _s(value: float) -> str:
    return f"{value:.2f} s"


def chart(json_path: Path, png: Path, chart_python: str | None) -> str:
    """Draw the chart; '' when drawn, else the note that says why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if chart_python:
            done = subprocess.run(
                [chart_python, "-m", "benchmarks.chart", str(json_path), str(png)],
                cwd=Path(__file__).resolve().parents[1],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                return ""
            return f"the chart failed with {chart_python}: {done.stderr.strip()[-300:]}"
        return (
            "no chart: matplotlib is not installed for this Python (it is not a dependency of "
            "pip-ff); draw it with `python -m benchmarks.chart RESULTS.json RESULTS.png` from a "
            "Python that has it, or pass `--chart-python`"
        )
    from benchmarks import chart as chart_module

    chart_module.draw(json.loads(json_path.read_text()), png)
    return ""


def _proxy_detail(comp: dict[str, Any]) -> str:
    """Connections pip-ff opened to the failing proxy in each fallback install (and the
    CONNECT targets, when the proxy read them)."""
    counts = [
        s["extra"]["proxy_connections"] for s in comp["b"] if "proxy_connections" in s["extra"]
    ]
    if not counts:
        return ""
    text = f"; connections to the proxy per install: {'/'.join(map(str, sorted(set(counts))))}"
    targets = sorted(
        {
            r.split(" ", 1)[1].rsplit(":", 1)[0]
            for s in comp["b"]
            for r in s["extra"].get("proxy_requests", [])
        }
    )
    if targets:
        text += f" (CONNECT to {', '.join(targets)})"
    return text


# Rows for part of the real workload: section -> (row id, what it is).
SMALL_SETS = {
    "outages_small": ("2s", "small real set"),
    "outages_python": ("2p", "small real set into a bare venv through `--python`"),
}


def _row_id(prefix: str) -> str:
    """An outage row's id from its label's prefix (empty: the synthetic workload's row 2)."""
    if not prefix:
        return "2"
    for row_id, what in sorted(SMALL_SETS.values(), key=lambda item: -len(item[1])):
        if prefix.startswith(what):  # the longest first: one is the start of the other
            return row_id
    return "2r"


def _outage_rows(
    row: Any,
    notes: list[str],
    mode: str,
    name: str,
    comp: dict[str, Any],
    decision: float | None,
    prefix: str,
    profiles: dict[str, Any],
) -> None:
    """The (a) vs (c) row of an outage, and for a deadline outage, the wait per install."""
    ratio = statistics.median(_ratios(comp))
    detail = _ratio_text(comp)
    if decision is not None and ratio > TARGET_OUTAGE and decision > 0.5:
        # How much of the gap is the one wait before the decision.
        net = statistics.median(
            (b["wall"] - decision) / a["wall"] for a, b in zip(comp["a"], comp["b"])
        )
        detail += f"; {net:.3f} without the {decision:.1f} s wait before the decision"
        notes.append(
            f"- *outage {name}*: pip-ff's install is (c) plus one wait of {decision:.2f} s "
            f"before it decides ({_decision_cause(mode, {})}); without that wait (a) is "
            f"{net:.2f} x (c)."
        )
    elif ratio > TARGET_OUTAGE:
        wait = CONNECT_DEADLINE if mode in WAIT_MODES else None
        notes.append(gaps.outage(f"{prefix}outage {name}", comp, TARGET_OUTAGE, wait))
    row(
        [
            _row_id(prefix) + " a/c",
            f"{prefix}outage {name}: pip-ff fallback install (a) vs "
            "`pip --no-index --find-links` (c)",
            f"(c) {_s(_med(comp['a']))}",
            f"(a) {_s(_med(comp['b']))}",
            detail + _proxy_detail(comp),
            f"(a) <= {TARGET_OUTAGE} x (c)",
        ],
        ratio <= TARGET_OUTAGE,
        f"{prefix}outage {mode}: (a) vs (c)",
    )
    if mode in WAIT_MODES:
        # Target 2 of issue 17: the connect deadline once per run, whatever the number of
        # hosts. Each wait ends in one "unreachable" warning; a second one shows as a second
        # warning and as (a) - (c) above twice the deadline.
        waits = [len(s["extra"].get("causes", [])) for s in comp["b"]]
        extra = [b["wall"] - a["wall"] for a, b in zip(comp["a"], comp["b"])]
        hosts = (
            "pages on 127.0.0.1, files on localhost" if mode.startswith("proxy-") else "one host"
        )
        row(
            [
                "2w",
                f"{prefix}outage {name}: deadline waits per fallback install ({hosts})",
                "",
                "/".join(map(str, sorted(set(waits)))),
                f"(a) - (c): {statistics.median(extra):+.2f} s "
                f"({', '.join(f'{w:+.2f}' for w in extra)})",
                f"1, and (a) - (c) < {2 * CONNECT_DEADLINE:.0f} s",
            ],
            set(waits) == {1} and statistics.median(extra) < 2 * CONNECT_DEADLINE,
            f"{prefix}outage {mode}: one wait per run",
        )


def markdown(results: dict[str, Any], png: Path, chart_note: str) -> str:
    m = results["machine"]
    sections = results["sections"]
    rows: list[str] = []
    notes: list[str] = []
    verdicts: list[tuple[str, bool | None]] = []
    profiles = sections.get("profile", {})

    def row(cells: list[str], ok: bool | None, label: str) -> None:
        rows.append("| " + " | ".join([*cells, _verdict(ok)]) + " |")
        verdicts.append((label, ok))

    # 1. online
    for comp in sections.get("online", []):
        ratio = statistics.median(_ratios(comp))
        detail = _ratio_text(comp)
        requests = [sorted({s["extra"].get("requests") for s in comp[k]}) for k in ("a", "b")]
        if all(None not in r for r in requests):
            detail += (
                f"; requests at the index: pip {'/'.join(map(str, requests[0]))}, "
                f"pip-ff {'/'.join(map(str, requests[1]))}"
            )
        row(
            [
                "1",
                f"online install, {comp['name']}",
                f"pip {_s(_med(comp['a']))}",
                _s(_med(comp["b"])),
                detail,
                f"<= {TARGET_ONLINE}",
            ],
            ratio <= TARGET_ONLINE,
            f"online ({comp['name']})",
        )
        if ratio > TARGET_ONLINE:
            notes.append(gaps.online(comp, TARGET_ONLINE, profiles))

    stored = sections.get("storage")
    if stored:
        mib = 1024 * 1024
        row(
            [
                "1s",
                "bytes on disk after one online pip-ff install, PyPI-like index (pip's HTTP "
                "cache and pip-ff's record)",
                f"pip's HTTP cache {stored['pip_http_cache_bytes'] / mib:.1f} MiB",
                f"record {stored['record_blob_bytes'] / mib:.1f} MiB",
                f"{stored['shared_blobs']} of {stored['record_blobs']} blobs "
                f"({stored['shared_bytes'] / mib:.1f} MiB) are pip's own files (hard links); "
                f"stored twice: {stored['duplicated_blobs']} blobs, "
                f"{stored['duplicated_bytes']} bytes",
                "0 bytes stored twice",
            ],
            stored["duplicated_bytes"] == 0,
            "every byte stored once",
        )

    # 2. outages
    for mode, data in sections.get("outages", {}).items():
        name = MODE_NAMES.get(mode, mode)
        if "skipped" in data:
            row(["2", f"outage: {name}", "skipped", "", "", data["skipped"]], None, mode)
            continue
        decisions = [d["first_attempt_to_decision"] for d in data["decisions"]]
        decision = statistics.median(decisions)
        if "comparison" in data:
            _outage_rows(row, notes, mode, name, data["comparison"], decision, "", profiles)
            fails = data["pip_fails"]
            flags = sorted(
                {
                    f["extra"]["not_pip_defaults"]
                    for f in fails
                    if f["extra"].get("not_pip_defaults")
                }
            )
            row(
                [
                    "2b",
                    f"outage {name}: plain pip "
                    + (f"(`{flags[0]}`, not pip's defaults)" if flags else "(defaults)")
                    + " until it fails",
                    f"{_s(_med(fails))} (n={len(fails)})",
                    "",
                    f"{_med(fails) / _med(data['comparison']['b']):.1f}x pip-ff's whole install",
                    "(reference)",
                ],
                None,
                f"outage {mode}: plain pip fails",
            )
        limit = TARGET_DECISION.get(mode)
        attempts = sorted({d["attempts"] for d in data["decisions"]})
        detail = (
            f"{len(decisions)} runs: {', '.join(f'{d:.3f}' for d in decisions)}; "
            f"attempts {'/'.join(map(str, attempts))}"
        )
        if data.get("decision_only"):
            detail += f"; {_decision_cause(mode, data)}"
        row(
            [
                "2",
                f"outage {name}: first connection attempt to fallback decision",
                "",
                f"{decision:.3f} s",
                detail,
                f"<= {limit} s" if limit is not None else "(none set)",
            ],
            decision <= limit if limit is not None else None,
            f"outage {mode}: decision time",
        )
    real = sections.get("outages_real")
    if real is not None:
        if "skipped" in real:
            row(["2r", "real workload", "skipped", "", "", real["skipped"]], None, "real workload")
        for mode, data in real.get("modes", {}).items():
            name = MODE_NAMES.get(mode, mode)
            if "comparison" not in data:
                reason = data.get("skipped", "no comparison")
                row(["2r", f"real workload, outage: {name}", "skipped", "", "", reason], None, mode)
                continue
            _outage_rows(
                row, notes, mode, name, data["comparison"], None, "real workload, ", profiles
            )
    for section, (row_id, what) in SMALL_SETS.items():
        small = sections.get(section)
        if small and "skipped" in small:
            cells = [row_id, f"{what}, outage: refused", "skipped", "", "", small["skipped"]]
            row(cells, None, "")
        for mode, data in (small or {}).get("modes", {}).items():
            if "comparison" in data:
                label = f"{what} ({small['workload']['distributions']} distributions), "
                name = MODE_NAMES.get(mode, mode)
                _outage_rows(row, notes, mode, name, data["comparison"], None, label, profiles)

    # 3. prefer-offline
    prefer = sections.get("prefer_offline")
    if prefer:
        req_b = [s["extra"]["requests"] for s in prefer["b"]]
        conn_b = [s["extra"]["connections"] for s in prefer["b"]]
        req_a = [s["extra"]["requests"] for s in prefer["a"]]
        ratio = statistics.median(_ratios(prefer))
        row(
            [
                "3",
                "prefer-offline, all pinned, every file local: requests at the index",
                f"pip: {statistics.median(req_a):.0f} requests",
                f"{max(req_b)} requests, {max(conn_b)} connections",
                "",
                "0",
            ],
            max(req_b) == 0 and max(conn_b) == 0,
            "prefer-offline: zero requests",
        )
        row(
            [
                "3",
                "prefer-offline, all pinned: time vs plain pip online",
                f"pip {_s(_med(prefer['a']))}",
                _s(_med(prefer["b"])),
                _ratio_text(prefer),
                f"<= {TARGET_PREFER_OFFLINE}",
            ],
            ratio <= TARGET_PREFER_OFFLINE,
            "prefer-offline: time vs pip online",
        )
        if ratio > TARGET_PREFER_OFFLINE:
            refused = sections.get("outages", {}).get("refused", {}).get("comparison")
            notes.append(gaps.prefer_offline(prefer, refused, TARGET_PREFER_OFFLINE))

    # 4. start-up
    startup = sections.get("startup")
    if startup:
        med = startup["median_ms"]
        cpu = startup["median_cpu_ms"]
        lo, hi = startup["diff_ci_ms"]
        clo, chi = startup["control_ci_ms"]
        diff = startup["diff_ms"]
        within = (lo <= 0 <= hi) or abs(diff) <= abs(startup["control_diff_ms"])
        row(
            [
                "4",
                f"start-up `python -c pass`, PIPFF unset ({startup['runs']} runs each)",
                f"no pip-ff {med['without pip-ff']:.1f} ms",
                f"{med['with pip-ff']:.1f} ms",
                f"{diff:+.2f} ms (95% CI {lo:+.2f} to {hi:+.2f}); A/A control "
                f"{startup['control_diff_ms']:+.2f} ms ({clo:+.2f} to {chi:+.2f}); CPU "
                f"{cpu['without pip-ff']:.1f} vs {cpu['with pip-ff']:.1f} ms",
                "within noise",
            ],
            within,
            "start-up within noise",
        )
        if not within:
            notes.append(gaps.startup(startup))
        pv = startup["pip_version"]
        row(
            [
                "4",
                "`python -m pip --version`, PIPFF unset vs PIPFF=1",
                f"{_med(pv['a']) * 1000:.0f} ms",
                f"{_med(pv['b']) * 1000:.0f} ms",
                f"{startup['pip_version_added_ms']:+.0f} ms ({_ratio_text(pv)})",
                "(reported)",
            ],
            None,
            "pip --version with PIPFF=1",
        )

    # 5. scale
    scale = sections.get("scale")
    if scale:
        files = scale["files"]
        ratio = statistics.median(_ratios(scale))
        row(
            [
                "5",
                f"fallback install, pip-ff's store {2 * files['store_entries_added']:,} files "
                f"({files['store_entries_added']:,} entries) bigger and "
                f"{files['http_cache_entries_added']:,} more pip HTTP cache entries "
                f"({files['big']:,} files in all) vs the small ones ({files['small']:,} files)",
                f"small {_s(_med(scale['a']))}",
                f"big {_s(_med(scale['b']))}",
                _ratio_text(scale),
                f"<= {TARGET_SCALE}",
            ],
            ratio <= TARGET_SCALE,
            "scale",
        )

    # 6. memory
    for comp in sections.get("online", []):
        ratio = statistics.median(_ratios(comp, "maxrss_mib"))
        row(
            [
                "6",
                f"peak RSS, {comp['name']}",
                f"pip {_med(comp['a'], 'maxrss_mib'):.1f} MiB",
                f"{_med(comp['b'], 'maxrss_mib'):.1f} MiB",
                _ratio_text(comp, "maxrss_mib"),
                f"<= {TARGET_MEMORY}",
            ],
            ratio <= TARGET_MEMORY,
            f"memory ({comp['name']})",
        )
        if ratio > TARGET_MEMORY:
            notes.append(gaps.memory(comp))

    # 7. a dead fallback index
    for kind, comp in sections.get("chain", {}).items():
        extra = statistics.median(b["wall"] - a["wall"] for a, b in zip(comp["a"], comp["b"]))
        limit = TARGET_CHAIN_EXTRA[kind]
        row(
            [
                "7",
                f"primary refused, a dead fallback index ({CHAIN_NAMES.get(kind, kind)}) "
                "asked first: pip-ff fallback install without vs with it",
                f"without {_s(_med(comp['a']))}",
                f"with {_s(_med(comp['b']))}",
                f"{extra:+.2f} s per install (median of pairs); {_ratio_text(comp)}",
                f"<= +{limit} s",
            ],
            extra <= limit,
            f"dead fallback index ({kind})",
        )

    # 2f. pip's own index path, the floor under row 2's (a) vs (c) (issue 36)
    for cells, ok, label in pip_floor.report_rows(sections.get("pip_floor")):
        row(cells, ok, label)

    # 9. serve (issue 25)
    for cells, ok, label in serve.report_rows(sections.get("serve")):
        row(cells, ok, label)
    # 9r. pip-ff run (issue 32)
    for cells, ok, label in serve_run.report_rows(sections.get("serve_run")):
        row(cells, ok, label)

    # CPU-time detail (less sensitive to a shared machine than wall time)
    cpu_rows = []
    for comp in sections.get("online", []):
        cpu_rows.append((f"1 online, {comp['name']}", comp))
    for mode, data in sections.get("outages", {}).items():
        if "comparison" in data:
            cpu_rows.append((f"2 {mode}: (c) wheelhouse vs (a) pip-ff", data["comparison"]))
    for mode, data in sections.get("outages_real", {}).get("modes", {}).items():
        if "comparison" in data:
            cpu_rows.append((f"2 real, {mode}: (c) wheelhouse vs (a) pip-ff", data["comparison"]))
    for section, (row_id, _) in SMALL_SETS.items():
        for mode, data in sections.get(section, {}).get("modes", {}).items():
            if "comparison" in data:
                cpu_rows.append(
                    (f"{row_id} {mode}: (c) wheelhouse vs (a) pip-ff", data["comparison"])
                )
    if prefer:
        cpu_rows.append(("3 pip online vs pip-ff --prefer-offline", prefer))
    if scale:
        cpu_rows.append(("5 small vs big store", scale))
    for key, label in (
        ("e_vs_c", "(c) wheelhouse vs (e) pip from its cache"),
        ("a_vs_e", "(e) vs (a)"),
    ):
        floor = sections.get("pip_floor", {}).get(key)
        if floor:
            cpu_rows.append((f"2f {label}", floor))

    missed = [label for label, ok in verdicts if ok is False]
    if any(label.endswith(": (a) vs (c)") for label in missed):
        notes.insert(0, gaps.fallback_split(profiles))
    met = [label for label, ok in verdicts if ok is True]
    load_start = ", ".join(f"{x:.2f}" for x in m.get("loadavg_start", ()))
    load_end = ", ".join(f"{x:.2f}" for x in m.get("loadavg_end", ()))
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in results.get("timings", {}).items())
    lines = [
        "# pip-ff benchmarks",
        "",
        f"Measured **{m['date']}** with `python -m benchmarks.run"
        + (" --quick" if results.get("quick") else "")
        + f"`: pip **{m['pip']}**, {m['python']}, on {m['nproc']} cores ({m['cpu_model']}), "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}; load average {load_start} at the start, "
        f"{load_end} at the end (a shared machine: other work ran meanwhile). pip-ff: "
        f"{m['pipff_source']}, wheel sha256 {m['pipff_wheel_sha256']}... "
        f"Total {results.get('total_seconds', 0):.0f} s ({timings}).",
        "",
        "Every number is a median over repeated runs; pip and pip-ff (or the two sides of a "
        "comparison) run interleaved, the order swapped every pair (AB BA AB ...), and a ratio "
        "is the median of the pair-by-pair ratios, with the smallest and largest pair in "
        "brackets. Each install starts in a fresh copy of one template venv, with a private "
        "copy of the pip cache directory it needs. All of it is one run of one command; the "
        "machine is small, shared and noisy, so treat differences of a few percent as noise "
        "unless the CPU-time table below agrees.",
        "",
        "| # | measure | baseline | pip-ff | ratio / detail | target | |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Targets met: {len(met)}; missed: {len(missed)}"
        + (f" ({'; '.join(missed)})" if missed else "")
        + ".",
        "",
    ]
    if chart_note:
        lines += [f"Chart: {chart_note}.", ""]
    else:
        lines += [f"![pip-ff benchmarks]({png.name})", ""]
    lines += [
        "## CPU time and memory, per comparison",
        "",
        "| comparison | baseline CPU | pip-ff CPU | CPU ratio | baseline RSS | pip-ff RSS |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, comp in cpu_rows:
        lines.append(
            f"| {label} | {_med(comp['a'], 'cpu'):.2f} s | {_med(comp['b'], 'cpu'):.2f} s | "
            f"{_ratio_text(comp, 'cpu')} | {_med(comp['a'], 'maxrss_mib'):.1f} MiB | "
            f"{_med(comp['b'], 'maxrss_mib'):.1f} MiB |"
        )
    lines.append("")
    if notes:
        lines += ["## What remains of each missed target", "", *notes, ""]
    lines += serve_run.profile_lines(sections.get("serve_run"))
    lines += _where_the_time_goes(sections.get("profile", {}))
    lines += _method(results)
    return "\n".join(lines) + "\n"


def _where_the_time_goes(profiles: dict[str, Any]) -> list[str]:
    if not profiles:
        return []
    return [
        "## Where the time goes (row 8: cProfile, medians of a few runs)",
        "",
        *profile.markdown(profiles),
        "",
        *profile.explain(profiles),
        "",
        *(
            [*profile.per_request_markdown(profiles["per-request"]), ""]
            if "per-request" in profiles
            else []
        ),
    ]


def _method(results: dict[str, Any]) -> list[str]:
    sections = results["sections"]
    online = sections.get("online", [])
    pairs = len(online[0]["a"]) if online else 0
    out = [
        "## How it was measured",
        "",
        "- **Workload** (benchmarks/workload.py): 20 distributions from 8 requirements "
        "(`bench-webframework==3.2.1`, `bench-orm>=1.0`, `bench-cli`, `bench-yaml==6.0.1`, "
        "`bench-dateutil`, `bench-chain-a` (a five-deep chain), `bench-bigdata==1.26.4` "
        "(a 2 MB wheel), `bench-legacy` (sdist only, built with the test bed's tiny PEP 517 "
        "backend)); 2 to 5 releases per project, real Python modules, PEP 658 metadata, served "
        "by testbed.IndexServer on loopback.",
        *_real_method(sections.get("outages_real")),
        f"- **1. Online** ({pairs} pairs each): the same `install -i INDEX ...` by `python -m "
        "pip` and by `python -m pip_offline_fallback` in the same template venv. *Warm*: a copy "
        "of the pip cache directory left by one earlier online pip-ff run (pip's HTTP and wheel "
        "caches, and pip-ff's record); with PyPI-style headers pip answers pages and files from "
        "its cache, without them it downloads everything again and pip-ff records it again. "
        "*Cold*: an empty cache directory (the sdist is built in every run). *Bytes on disk* "
        "(row 1s): the warm PyPI-like cache directory, every regular file of pip's HTTP cache "
        "and of the record's blobs, hashed; a blob is pip's own file when it has the same "
        "inode, stored twice when it holds the same bytes as one of pip's files in a copy of "
        "its own.",
        *_outages_method(sections),
        "- **3. Prefer-offline**: every distribution pinned with `==`; both sides start from a "
        "copy of the warm cache (index without cache headers: pip's HTTP cache can't answer, "
        "pip-ff's record can); requests and connections counted by the IndexServer.",
        "- **4. Start-up**: `python -c pass` in a venv with pip-ff installed (its `.pth` line "
        "runs, PIPFF unset) and in two venvs where it was uninstalled (the second one is an A/A "
        "control, showing the noise between two identical venvs); round-robin, rotating order. "
        "The difference is *within noise* when the bootstrap 95% interval of the median paired "
        "difference contains 0 or the difference is no larger than the A/A control's.",
        "- **5. Scale**: the warm state vs the same plus synthetic entries written straight into "
        "store.py's layout (real, verifiable entries for pages, metadata and wheels of other "
        "projects on the same host) and junk entries at sha224-shaped paths in pip's `http-v2`; "
        "refused outage. Both states sit on tmpfs (/dev/shm) when there is one, so that tens "
        "of thousands of files are written and removed in seconds; the lookups are the same "
        "on any file system.",
        "- **6. Memory**: peak RSS of the largest process of each install's tree (`os.wait4` "
        "per command: pip, and pip's build-isolation subprocesses), from the row-1 runs.",
        "- **7. Dead fallback index**: the index refused; the row-2 fallback install (from a copy "
        "of the warm cache, everything from pip-ff's record) without and with "
        "`--fallback-index-url` pointing at a dead mirror (a closed loopback port, or a "
        "testbed BlackHoleServer), interleaved in pairs; the cost is the median of the "
        "pair-by-pair differences.",
        "- **8. Where the time goes** (benchmarks/sections/profile.py): three runs each of (c), of "
        "(d) the same `--no-index --find-links` install through pip-ff, of (a) the refused "
        "fallback install, and of the online and prefer-offline installs of rows 1 and 3 "
        "(private index, all pinned), under `python -m cProfile` (main process only), in the "
        "same fresh venvs and warm caches; medians. A phase is the cumulative time of one "
        "function of pip's or pip-ff's; phases nest, so a column does not add up.",
        *([pip_floor.METHOD] if "pip_floor" in sections else []),
        *([serve.METHOD] if "serve" in sections else []),
        *([serve_run.METHOD] if "serve_run" in sections else []),
        "",
    ]
    return out


def _real_method(real: dict[str, Any] | None) -> list[str]:
    if real is None:
        return []
    common = (
        "`pip download --only-binary :all:` of `"
        + " ".join(real.get("workload", {}).get("requirements", []) or ["Django==4.2.16"])
        + "` with the benchmarks' Python and its own pip configuration, once, into the "
        "benchmarks' download cache (benchmarks/realworld.py; outside the repository: "
        "`--download-cache`, `$PIPFF_BENCH_CACHE` or ~/.cache/pipff-bench); the only step "
        "that may use the network. Later runs use the cached files."
    )
    if "skipped" in real:
        return [f"- **Real workload**: skipped ({real['skipped']}). It is {common}"]
    info = real["workload"]
    return [
        f"- **Real workload** (row 2r): {info['files']} real wheels from PyPI "
        f"({info['mib']} MiB, the largest {info['largest_mib']} MiB), {common} The same "
        "loopback test index serves them (one release per project: what the download "
        "resolved); every measured command is isolated (no pip configuration, its own cache) "
        "and local."
    ]


def _outages_method(sections: dict[str, Any]) -> list[str]:
    outages = sections.get("outages", {})
    text = (
        "- **2. Outages**: (a) pip-ff's whole fallback install from a copy of the warm cache "
        "(index without cache headers, so everything comes from pip-ff's record); (b) plain "
        "pip with its defaults (`--timeout 15 --retries 5`) until it fails; (c) `pip install "
        "--no-index --find-links WHEELHOUSE` of the same files (every release the index "
        "serves), its wheel cache warm too. *Decision*: separate pip-ff runs (`install "
        "--dry-run --no-deps -v --log FILE`, first requirement); pip stamps every log line to "
        "the millisecond, and the time is from the first urllib3 `Starting new HTTP "
        "connection` line to pip-ff's `is unreachable` warning. The DNS outage uses an index "
        "reached online as `pipff-index.invalid` through testbed's ForwardingProxy "
        "(its pages link files relatively, so they are on that name too); offline, the command "
        "runs in a private mount namespace whose resolv.conf names a loopback resolver that "
        "answers NXDOMAIN, so no DNS query leaves the machine. The black hole is "
        "testbed's `hold_port(port, accept=False)` on the index's own port; plain pip's "
        "black-hole runs (about 100 s each) used an identical testbed BlackHoleServer on "
        "another port, in the background during the set-up and while venvs were cloned ahead "
        "(the wait is timeouts, not work; the set-up's load only stretches pip's start)."
    )
    out = [text]
    if "proxy-connect-503" in outages or "proxy-hung" in outages:
        out.append(
            "- **2. Proxy outages**: an https index (benchmarks/outages.py TwoHostIndex: its "
            "pages on 127.0.0.1, its files on localhost, two hosts behind one proxy), recorded "
            "online through testbed's TunnelProxy (a proxy that works), then stopped; offline, "
            "pip is given `--proxy` to a testbed FailingProxy that answers every CONNECT with "
            "503 (a route failure, decided at once), or to a testbed StallServer that accepts "
            "the connection and never answers the CONNECT (a hung proxy: only the connect "
            "deadline ends it; plain pip's runs, about 100 s each, ran in the background "
            "during the set-up, behind another StallServer). The proxy counts the connections "
            "pip-ff opens to it (and, when it reads them, the CONNECT targets) in each fallback "
            "install. *Deadline waits per install* (row 2w, black hole and hung proxy): the "
            "`is unreachable` warnings of the fallback install, one per decision; the target "
            "is one per run, whatever the number of hosts."
        )
    if "proxy-http-503" in outages:
        out.append(
            "- **2. The retry case**: a plain-http index behind a proxy that answers 503 to "
            "every request; measured for the decision only. A 503 that a proxy relays from a "
            "working index looks the same, so pip's status retries (0 + 0.5 + 1 + 2 + 4 s) run "
            "first, by design."
        )
    if "proxy-503" in outages:
        out.append(
            "- **2. Proxy answers 503**: a plain-http index behind a testbed FailingProxy "
            "answering 503 to every request (`--proxy`); pip's status retries run before "
            "pip-ff decides."
        )
    real = sections.get("outages_real")
    if real and "modes" in real:
        out.append(
            "- **2r. Real workload**: the (a) vs (c) comparison of row 2 for "
            + ", ".join(MODE_NAMES.get(m, m) for m in real["modes"])
            + ", on the real wheels (same method, its own indexes and warm states); "
            "`--real-modes` picks the outages."
        )
    small = sections.get("outages_small")
    if small and "modes" in small:
        out.append(
            "- **2s. Small real set**: the same comparison, refused outage, for "
            + " ".join(f"`{r}`" for r in small["workload"]["requirements"])
            + f" ({small['workload']['distributions']} distributions of the real download), on "
            "the real workload's index and warm states."
        )
    if "modes" in sections.get("outages_python", {}):
        out.append(
            "- **2p. Through `--python`**: row 2s's comparison, each install run from a venv "
            "that has the tool, into a fresh venv made by `venv --without-pip` (`pip --python "
            "NEW install --no-index --find-links`, `pip-ff --python NEW install`): pip-ff "
            "carries itself into the new venv's interpreter."
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report RESULTS.json [RESULTS.md]``: render the Markdown again."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        sys.stderr.write("usage: python -m benchmarks.report RESULTS.json [RESULTS.md]\n")
        return 2
    json_path = Path(args[0])
    png = json_path.with_suffix(".png")
    note = "" if png.exists() else "no chart beside the JSON file"
    text = markdown(json.loads(json_path.read_text()), png, note)
    if len(args) == 2:
        Path(args[1]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
