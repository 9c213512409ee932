"""4: interpreter start-up with pip-ff installed (PIPFF unset), and pip --version with PIPFF=1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.bench import Bench
from benchmarks.harness import (
    BenchmarkError,
    Comparison,
    Sample,
    bootstrap_median_ci,
    interleave,
    measure,
    median,
)
from testbed import isolated_env


def run(bench: Bench) -> None:
    bench.log("4. start-up")
    with_pipff = bench.fresh_venv()
    without = [bench.fresh_venv(), bench.fresh_venv()]
    for venv in without:
        venv.pip("uninstall", "-y", "pip-offline-fallback", cwd=bench.cwd).check()
        if list(venv.site_packages.glob("pip_offline_fallback*")):
            raise BenchmarkError("pip-offline-fallback is still in the venv after uninstall")
    hook = with_pipff.site_packages / "pip_offline_fallback.pth"
    if not hook.is_file():
        raise BenchmarkError(f"no start-up hook in {with_pipff.site_packages}")
    env = isolated_env(bench.fresh("cache"))
    venvs = {
        "without pip-ff": without[0],
        "with pip-ff": with_pipff,
        "without (A/A)": without[1],
    }
    samples: dict[str, list[Sample]] = {name: [] for name in venvs}
    names = list(venvs)
    for i in range(bench.plan.startup_runs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            argv = [str(venvs[name].python), "-c", "pass"]
            samples[name].append(measure(name, argv, env, timeout=60, cwd=bench.cwd))
    base = samples["without pip-ff"]
    diffs = [b.wall - a.wall for a, b in zip(base, samples["with pip-ff"])]
    control = [b.wall - a.wall for a, b in zip(base, samples["without (A/A)"])]
    section: dict[str, Any] = {
        "runs": bench.plan.startup_runs,
        "median_ms": {k: median([s.wall for s in v]) * 1000 for k, v in samples.items()},
        "median_cpu_ms": {k: median([s.cpu for s in v]) * 1000 for k, v in samples.items()},
        "diff_ms": median(diffs) * 1000,
        "diff_ci_ms": [x * 1000 for x in bootstrap_median_ci(diffs)],
        "control_diff_ms": median(control) * 1000,
        "control_ci_ms": [x * 1000 for x in bootstrap_median_ci(control)],
        "iqr_ms": {k: _iqr([s.wall for s in v]) * 1000 for k, v in samples.items()},
    }
    bench.log(
        f"  python -c pass: {section['median_ms']}, diff {section['diff_ms']:.2f} ms, "
        f"A/A {section['control_diff_ms']:.2f} ms"
    )

    plain = dict(env)
    hooked = dict(env, PIPFF="1")
    version = [str(with_pipff.python), "-m", "pip", "--version"]
    comparison = interleave(
        Comparison("pip --version", "PIPFF unset", "PIPFF=1"),
        bench.plan.version_runs,
        lambda i: measure("PIPFF unset", version, plain, cwd=bench.cwd),
        lambda i: measure("PIPFF=1", version, hooked, cwd=bench.cwd),
    )
    for s in comparison.a + comparison.b:
        if s.returncode != 0:
            raise BenchmarkError(f"pip --version failed:\n{s.output}")
    section["pip_version"] = comparison.as_json()
    section["pip_version_added_ms"] = (
        median([b.wall - a.wall for a, b in zip(comparison.a, comparison.b)]) * 1000
    )
    bench.log(
        f"  python -m pip --version: unset {comparison.med('a') * 1000:.0f} ms, PIPFF=1 "
        f"{comparison.med('b') * 1000:.0f} ms"
    )
    bench.results["sections"]["startup"] = section
    bench.discard(with_pipff.path, *(v.path for v in without))


def _iqr(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if len(ordered) < 4:
        return float("nan")
    n = len(ordered)
    return ordered[(3 * n) // 4] - ordered[n // 4]
