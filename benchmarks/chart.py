"""The PNG chart of a results file: ``python -m benchmarks.chart RESULTS.json RESULTS.png``.

Needs matplotlib (not a dependency of pip-ff: any Python that has it can draw the chart from the
JSON that ``benchmarks.run`` wrote).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def _med(samples: list[dict[str, Any]], metric: str = "wall") -> float:
    return statistics.median(s[metric] for s in samples) if samples else 0.0


def _short(name: str) -> str:
    return (
        name.replace(" caches", "")
        .replace(", PyPI-like index", " PyPI-like")
        .replace(", private index", " private")
    )


def draw(results: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = results["sections"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    blue, orange, grey = "#4C72B0", "#DD8452", "#8C8C8C"

    ax = axes[0][0]
    online = sections.get("online", [])
    if online:
        names = [c["name"].replace(", ", "\n") for c in online]
        xs = range(len(online))
        ax.bar([x - 0.2 for x in xs], [_med(c["a"]) for c in online], 0.4, label="pip", color=grey)
        ax.bar(
            [x + 0.2 for x in xs], [_med(c["b"]) for c in online], 0.4, label="pip-ff", color=blue
        )
        for x, c in zip(xs, online):
            ax.annotate(
                f"x{c['ratio_wall']:.3f}", (x + 0.2, _med(c["b"])), ha="center", va="bottom"
            )
        ax.set_xticks(list(xs), names, fontsize=8)
        ax.set_ylabel("seconds (median)")
        ax.set_title("1. Online install: pip vs pip-ff (target x1.02)")
        ax.legend()

    ax = axes[0][1]
    outages = {k: v for k, v in sections.get("outages", {}).items() if "comparison" in v}
    if outages:
        modes = list(outages)
        xs = range(len(modes))
        c_times = [_med(outages[m]["comparison"]["a"]) for m in modes]
        a_times = [_med(outages[m]["comparison"]["b"]) for m in modes]
        b_times = [_med(outages[m]["pip_fails"]) for m in modes]
        ax.bar(
            [x - 0.27 for x in xs], c_times, 0.27, label="(c) pip --no-index wheelhouse", color=grey
        )
        ax.bar([x for x in xs], a_times, 0.27, label="(a) pip-ff fallback install", color=blue)
        ax.bar(
            [x + 0.27 for x in xs], b_times, 0.27, label="(b) plain pip: time to fail", color=orange
        )
        for x, value in zip(xs, b_times):
            ax.annotate(f"{value:.0f}s", (x + 0.27, value), ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(list(xs), modes)
        ax.set_ylabel("seconds (median, log scale)")
        ax.set_title("2. Index unreachable (target (a) <= 1.05 x (c))")
        ax.legend(fontsize=8)

    ax = axes[1][0]
    bars: list[tuple[str, float, str]] = []
    prefer = sections.get("prefer_offline")
    if prefer:
        bars += [
            ("pip online\n(pinned)", _med(prefer["a"]), grey),
            ("pip-ff\n--prefer-offline", _med(prefer["b"]), blue),
        ]
    scale = sections.get("scale")
    if scale:
        bars += [
            ("fallback,\nsmall store", _med(scale["a"]), grey),
            ("fallback,\nbig store", _med(scale["b"]), blue),
        ]
    if bars:
        ax.bar(range(len(bars)), [b[1] for b in bars], color=[b[2] for b in bars])
        ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
        ax.set_ylabel("seconds (median)")
        title = "3. Prefer-offline"
        if scale:
            title += f"   5. Scale (+{scale['files']['store_entries_added']:,} store entries)"
        ax.set_title(title)

    ax = axes[1][1]
    if online:
        names = [_short(c["name"]) for c in online]
        xs = range(len(online))
        ax.bar(
            [x - 0.2 for x in xs], [_med(c["a"], "maxrss_mib") for c in online], 0.4,
            label="pip", color=grey,
        )  # fmt: skip
        ax.bar(
            [x + 0.2 for x in xs], [_med(c["b"], "maxrss_mib") for c in online], 0.4,
            label="pip-ff", color=blue,
        )  # fmt: skip
        ax.set_xticks(list(xs), names)
        ax.set_ylabel("MiB (median peak RSS)")
        ax.set_title("6. Peak memory (target x1.05)")
        ax.legend(loc="lower right")

    info = results.get("machine", {})
    fig.suptitle(
        f"pip-ff benchmarks - {info.get('date', '')}, pip {info.get('pip', '')}, "
        f"{info.get('python', '')}, {info.get('nproc', '')} cores {info.get('cpu_model', '')}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m benchmarks.chart RESULTS.json RESULTS.png\n")
        return 2
    draw(json.loads(Path(args[0]).read_text()), Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
