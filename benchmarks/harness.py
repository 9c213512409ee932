"""Measuring commands: wall time, CPU time and peak RSS of one child, and statistics over pairs.

Each command runs in its own process group with its output in temporary files (never pipes: a
full pipe would stall the child and be timed). ``os.wait4`` on the child gives that child's own
resource usage, its waited-for descendants included (pip's build-isolation subprocesses), so the
peak RSS is the largest process of the command's tree, measured per command rather than the
high-water mark of every child this process ever had (``RUSAGE_CHILDREN``).

The command is started by a small launcher (a bare Python), not by this process: Linux gives a
new program the peak RSS of the process it was started from (exec keeps the high-water mark of
the memory it replaces), and this process grows to more than pip's size during a full run, which
would put its own size into every measure. The launcher times the command and waits for it, and
hands back what ``os.wait4`` said.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


class BenchmarkError(RuntimeError):
    """A measured command did not do what the benchmark needs (the message shows its output)."""


@dataclass
class Sample:
    """One measured command."""

    label: str
    wall: float  # seconds
    cpu: float  # user + system seconds of the process tree (waited-for descendants included)
    maxrss_mib: float  # peak resident set size of the largest process of the tree
    returncode: int
    output: str = field(default="", repr=False)  # stdout + stderr (tail kept in the JSON)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = self.output[-600:]
        return data


# Run as ``python -I -S -c _LAUNCHER REPORT ARGV...``: starts ARGV, waits for it, writes
# [wall seconds, CPU seconds, peak RSS in KiB, exit code] as JSON to REPORT.
_LAUNCHER = """
import json, os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
code = os.waitstatus_to_exitcode(status)
with open(report, "w") as f:
    json.dump([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, code], f)
"""


def measure(
    label: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float = 600,
    cwd: str | os.PathLike[str] | None = None,
) -> Sample:
    """Run ``argv`` to completion and measure it. A command past ``timeout`` is killed (-9)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "usage.json")
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, report, *argv],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            kill()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        maxrss_kib = usage.ru_maxrss
        # No report (the launcher was killed): the launcher's own figures.
        with contextlib.suppress(OSError, ValueError), open(report, encoding="utf-8") as f:
            wall, cpu, maxrss_kib, returncode = json.load(f)
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    return Sample(
        label=label,
        wall=wall,
        cpu=cpu,
        maxrss_mib=maxrss_kib / 1024,  # Linux: kilobytes
        returncode=returncode,
        output=output,
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Comparison:
    """Paired runs of a baseline (A) and a candidate (B), interleaved, with ratios pair by pair."""

    name: str
    a_label: str
    b_label: str
    a: list[Sample] = field(default_factory=list)
    b: list[Sample] = field(default_factory=list)

    def ratios(self, metric: str = "wall") -> list[float]:
        return [getattr(b, metric) / getattr(a, metric) for a, b in zip(self.a, self.b)]

    def ratio(self, metric: str = "wall") -> float:
        return median(self.ratios(metric))

    def spread(self, metric: str = "wall") -> tuple[float, float]:
        r = self.ratios(metric)
        return (min(r), max(r)) if r else (float("nan"), float("nan"))

    def med(self, side: str, metric: str = "wall") -> float:
        return median([getattr(s, metric) for s in getattr(self, side)])

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "a_label": self.a_label,
            "b_label": self.b_label,
            "a": [s.as_json() for s in self.a],
            "b": [s.as_json() for s in self.b],
            "ratio_wall": self.ratio("wall") if self.a else None,
            "ratio_cpu": self.ratio("cpu") if self.a else None,
            "ratio_maxrss": self.ratio("maxrss_mib") if self.a else None,
        }


def interleave(
    comparison: Comparison,
    pairs: int,
    run_a: Callable[[int], Sample],
    run_b: Callable[[int], Sample],
    progress: Callable[[str], None] = lambda _: None,
) -> Comparison:
    """``pairs`` pairs, A and B back to back, the order swapped every pair (AB BA AB ...).

    Interleaving puts the machine's slow moments on both sides; swapping the order cancels any
    advantage of going first or second (warm page cache, CPU frequency).
    """
    for i in range(pairs):
        order = [("a", run_a), ("b", run_b)] if i % 2 == 0 else [("b", run_b), ("a", run_a)]
        done: dict[str, Sample] = {}
        for side, run in order:
            done[side] = run(i)
        comparison.a.append(done["a"])
        comparison.b.append(done["b"])
        progress(
            f"  {comparison.name} pair {i + 1}/{pairs}: {comparison.a_label} "
            f"{done['a'].wall:.2f}s, {comparison.b_label} {done['b'].wall:.2f}s"
        )
    return comparison


def bootstrap_median_ci(
    values: Sequence[float], *, rounds: int = 2000, seed: int = 7
) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of the median (seeded: the same data, the same CI)."""
    if len(values) < 2:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    n = len(values)
    meds = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(rounds))
    return meds[int(0.025 * rounds)], meds[int(0.975 * rounds) - 1]


# The same measures on a comparison as its JSON holds it (``Comparison.as_json``).


def med(samples: list[dict[str, Any]], metric: str = "wall") -> float:
    """The median of one measure over a side's samples (NaN for none)."""
    return statistics.median(s[metric] for s in samples) if samples else float("nan")


def ratios(comp: dict[str, Any], metric: str = "wall") -> list[float]:
    """The pair-by-pair ratios, pip-ff's side over the baseline."""
    return [b[metric] / a[metric] for a, b in zip(comp["a"], comp["b"])]


def ratio_text(comp: dict[str, Any], metric: str = "wall") -> str:
    """The median pair ratio with the smallest and largest pair: ``1.052 (0.98-1.12)``."""
    r = ratios(comp, metric)
    if not r:
        return "n/a"
    if len(r) == 1:
        return f"{r[0]:.3f}"
    return f"{statistics.median(r):.3f} ({min(r):.2f}-{max(r):.2f})"
