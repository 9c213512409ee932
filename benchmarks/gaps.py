"""What remains of a missed target, in the same run's numbers: each miss gets one line that
says how large it is and where row 8's profile puts the time (pip-ff's fixed cost, the
fallback's path through pip's HTTP and download code, pip-ff's own code)."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.harness import med, ratios
from benchmarks.sections.profile import before_installing

Comparison = dict[str, Any]


def _walls(comp: Comparison, side: str, metric: str = "wall") -> float:
    return med(comp[side], metric)


def _gap(comp: Comparison) -> float:
    """The median of the pair-by-pair differences, pip-ff's side minus the baseline."""
    return statistics.median(b["wall"] - a["wall"] for a, b in zip(comp["a"], comp["b"]))


def _spread(comp: Comparison, target: float) -> str:
    pairs = ratios(comp)
    lo, hi = min(pairs), max(pairs)
    if lo <= target:
        return f"; its pairs run from {lo:.2f} to {hi:.2f}, across the target"
    return ""


def fallback_split(profiles: dict[str, Any]) -> str:
    """Row 8's split of a fallback install against a ``--find-links`` one: where the (a) vs (c)
    misses below go."""
    c, d, a = profiles.get("c"), profiles.get("d"), profiles.get("a")
    if not (c and d and a):
        return "- Fallback installs: row 8 (the profile) was not run."
    fixed = before_installing(d) - before_installing(c)
    path = before_installing(a) - before_installing(d)
    return (
        f"- **Fallback installs vs `--find-links`** (the (a) vs (c) rows below): row 8 splits "
        f"one such install (synthetic workload, refused, under cProfile) into pip-ff's fixed "
        f"cost, {fixed:+.2f} s, and the fallback's path, {path:+.2f} s: pip's HTTP and download "
        f"code for {a['requests']['calls']} requests that pip-ff answers from the record, "
        f"{a['downloads']['calls']} of them files that pip copies through its downloader, where "
        f"a `--find-links` install opens the files in place. pip-ff's own code takes "
        f"{a['pipff_own']['seconds']:.2f} s of it. What remains is pip's own path for answers "
        "from an index, which pip-ff keeps so that the install is the one pip makes from that "
        "index."
    )


def online(comp: Comparison, target: float, profiles: dict[str, Any]) -> str:
    cpu = statistics.median(ratios(comp, "cpu"))
    d, c = profiles.get("d"), profiles.get("c")
    fixed = ""
    if c and d:
        fixed = (
            f" Row 8 puts pip-ff's fixed cost (its imports and hooks, on every command) at "
            f"{before_installing(d) - before_installing(c):+.2f} s of profiled time."
        )
    return (
        f"- **Online, {comp['name']}**: {_gap(comp):+.2f} s a pair (pip {_walls(comp, 'a'):.2f}"
        f" s); CPU {cpu:.3f} x pip's" + _spread(comp, target) + "." + fixed
    )


def outage(label: str, comp: Comparison, target: float, wait: float | None = None) -> str:
    """``wait``: the connect deadline that an outage of this kind waits once (row 2w)."""
    waited = (
        f", of which one wait of the connect deadline ({wait:.1f} s) before the decision"
        if wait is not None
        else ""
    )
    return (
        f"- *{label}*: (a) - (c) = {_gap(comp):+.2f} s a pair ((c) {_walls(comp, 'a'):.2f} s)"
        + waited
        + _spread(comp, target)
        + "."
    )


def prefer_offline(prefer: Comparison, wheelhouse: Comparison | None, target: float) -> str:
    """The floor: an install from a local directory, against the same pip online."""
    pip_online = _walls(prefer, "a")
    line = (
        f"- **Prefer-offline**: {_walls(prefer, 'b'):.2f} s against pip online's "
        f"{pip_online:.2f} s."
    )
    if wheelhouse is not None:
        floor = _walls(wheelhouse, "a")
        line += (
            f" `pip install --no-index --find-links` of the same files (row 2, refused, (c)) "
            f"takes {floor:.2f} s, {floor / pip_online:.3f} x pip online: the target "
            f"({target}) asks for less than an install from a local directory. Prefer-offline "
            f"is {_walls(prefer, 'b') - floor:+.2f} s over that install: the fallback's path."
        )
    return line


def memory(comp: Comparison) -> str:
    extra = _walls(comp, "b", "maxrss_mib") - _walls(comp, "a", "maxrss_mib")
    return (
        f"- **Peak RSS, {comp['name']}**: {extra:+.1f} MiB over pip's "
        f"{_walls(comp, 'a', 'maxrss_mib'):.1f} MiB."
    )


def startup(data: dict[str, Any]) -> str:
    lo, hi = data["diff_ci_ms"]
    return (
        f"- **Start-up**: {data['diff_ms']:+.2f} ms ({lo:+.2f} to {hi:+.2f}) against "
        f"{data['control_diff_ms']:+.2f} ms between two identical venvs. With `PIPFF` unset "
        "pip-ff runs nothing at start-up but its `.pth` line (site.py reads the file and runs "
        "one `os.environ.get`); a `.pth` file is the only way a wheel can reach every "
        "interpreter start, which `PIPFF=1 pip ...` needs."
    )
