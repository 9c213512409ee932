"""3: --prefer-offline with every pin local, against plain pip online."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import workload
from benchmarks.bench import PIP, PIPFF, Bench
from benchmarks.harness import Comparison, Sample, interleave


def run(bench: Bench) -> None:
    index = bench.idx_none
    index.start()  # it may have been stopped by an outage
    reqs = list(workload.pinned_requirements())
    bench.log("3. prefer-offline, all pinned, every file local")

    def counted(label: str, tool: str, extra: list[str]) -> Callable[[int], Sample]:
        def after(sample: Sample) -> None:
            sample.extra["requests"] = len(index.requested())
            sample.extra["connections"] = index.connections

        return lambda i: bench.install(
            label,
            tool,
            bench.warm_none,
            [*extra, "-i", index.url, *reqs],
            before=index.clear_log,
            after=after,
        )

    comparison = interleave(
        Comparison("prefer-offline", "pip (online)", "pip-ff --prefer-offline"),
        bench.plan.prefer_offline_pairs,
        counted("pip", PIP, []),
        counted("pip-ff --prefer-offline", PIPFF, ["--prefer-offline"]),
        bench.log,
    )
    bench.results["sections"]["prefer_offline"] = comparison.as_json()
