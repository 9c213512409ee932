"""7: a dead fallback index (refused, black hole) before the local sources."""

from __future__ import annotations

import contextlib
from typing import Any

from benchmarks import workload
from benchmarks.bench import PIPFF, Bench
from benchmarks.harness import Comparison, interleave
from benchmarks.outages import outage
from testbed import BlackHoleServer, closed_port_url


def run(bench: Bench) -> None:
    """Primary refused; the same fallback install without and with a dead mirror first.

    The mirror is asked before local sources, so a dead one costs its own decision once
    (refused: at once; black hole: the connect deadline), then it is skipped like the primary.
    """
    index = bench.idx_none
    reqs = list(workload.REQUIREMENTS)
    out: dict[str, Any] = {}
    with outage("refused", index):
        for kind in ("refused", "blackhole"):
            bench.log(f"7. dead fallback index: {kind}")
            with contextlib.ExitStack() as stack:
                if kind == "refused":
                    mirror = closed_port_url()
                else:
                    mirror = stack.enter_context(BlackHoleServer()).url
                comparison = interleave(
                    Comparison(f"chain-{kind}", "no fallback index", "dead fallback index"),
                    bench.plan.chain_pairs,
                    lambda i: bench.install(
                        "pip-ff fallback",
                        PIPFF,
                        bench.warm_none,
                        ["-i", index.url, *reqs],
                        expect_fallback=True,
                    ),
                    lambda i, mirror=mirror: bench.install(
                        "pip-ff fallback, dead mirror",
                        PIPFF,
                        bench.warm_none,
                        ["-i", index.url, "--fallback-index-url", mirror, *reqs],
                        expect_fallback=True,
                    ),
                    bench.log,
                )
            out[kind] = comparison.as_json()
    bench.results["sections"]["chain"] = out
