"""1 and 6: pip-ff online against plain pip (wall time, CPU, requests; peak memory is row 6)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmarks import workload
from benchmarks.bench import PIP, PIPFF, Bench
from benchmarks.harness import Comparison, Sample, interleave
from testbed import IndexServer


def run(bench: Bench) -> None:
    reqs = list(workload.REQUIREMENTS)
    variants = [
        ("warm caches, PyPI-like index", bench.idx_pypi, bench.warm_pypi, bench.pypi_env),
        ("warm caches, private index", bench.idx_none, bench.warm_none, {}),
        ("cold caches, PyPI-like index", bench.idx_pypi, None, bench.pypi_env),
    ]
    out = []
    for name, index, state, extra in variants:
        bench.log(f"1. online: {name}")

        def run(
            tool: str,
            label: str,
            state: Path | None = state,
            index: IndexServer = index,
            extra: dict[str, str] = extra,
        ) -> Callable[[int], Sample]:
            def after(sample: Sample) -> None:
                sample.extra["requests"] = len(index.requested())

            return lambda i: bench.install(
                label,
                tool,
                state,
                ["-i", index.url, *reqs],
                env_extra=extra,
                before=index.clear_log,
                after=after,
            )

        comparison = interleave(
            Comparison(name, "pip", "pip-ff"),
            bench.plan.online_pairs,
            run(PIP, "pip"),
            run(PIPFF, "pip-ff"),
            bench.log,
        )
        out.append(comparison.as_json())
    bench.results["sections"]["online"] = out
