"""Row 2f: what pip's own index path costs when nothing needs downloading, the floor under
row 2's (a) vs (c) target (issue 36).

A fallback install answers pip's requests from pip-ff's record, so pip still reads the index's
pages, fetches each wheel's metadata and copies each file through its downloader: the index
path. ``--find-links`` (c) skips all of it and opens the files in place. Plain pip through an
index that answers, with every file already in its own HTTP cache (e), walks the same index
path with no download at all. So (e) vs (c) is what that path alone costs, and (a) vs (e) is
what pip-ff's fallback adds to it: the part pip-ff itself can remove.

(e): plain pip, the PyPI-like index (https) up, from a copy of row 1's warm PyPI-like state
(its HTTP cache holds every page, metadata file and file; pip asks the index again only about
pages older than their max-age, 600 s, and gets 304 for them: the warm state is older than that
when this row runs). (c) and (a) as in row 2, the index refused for (a).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.bench import PIP, PIPFF, Bench
from benchmarks.harness import Comparison, Sample, interleave, med, ratio_text
from benchmarks.outages import outage

OWN_CACHE = "plain pip from its cache (e)"
Side = tuple[str, Callable[[int], Sample]]  # a side's label, and one measured run of it

METHOD = (
    "- **2f. pip's own index path** (benchmarks/sections/pip_floor.py; runs with row 2): "
    "(e) plain pip through the PyPI-like index, which answers, from a copy of row 1's warm "
    "PyPI-like state (every page, metadata file and file in pip's own HTTP cache: nothing is "
    "downloaded; pip asks the index again only about pages older than their max-age, 600 s), "
    "against row 2's (c) `--find-links` install, and row 2's (a) pip-ff fallback (index "
    "refused) against (e); each in pairs, in fresh venvs and private copies of the caches."
)


def run(bench: Bench) -> None:
    if "refused" not in bench.args.modes:
        return
    load = bench.synthetic
    reqs = list(load.requirements)

    def find_links(i: int) -> Sample:
        return bench.install(
            "pip --no-index --find-links",
            PIP,
            bench.wheelhouse_states[load.name],
            ["--no-index", "--find-links", str(load.wheelhouse), *reqs],
        )

    def own_cache(i: int) -> Sample:
        return bench.install(
            OWN_CACHE,
            PIP,
            bench.warm_pypi,
            ["-i", bench.idx_pypi.url, *reqs],
            env_extra=bench.pypi_env,
        )

    out: dict[str, Any] = {}
    bench.results["sections"]["pip_floor"] = out
    bench.log("2f. pip's own index path, nothing downloaded")
    out["e_vs_c"] = _pairs(
        bench, "pip's index path", ("wheelhouse (c)", find_links), (OWN_CACHE, own_cache)
    )
    with outage("refused", bench.idx_none, bench.resolver) as down:

        def fallback(i: int) -> Sample:
            return bench.install(
                "pip-ff fallback",
                PIPFF,
                bench.warm_none,
                ["-i", bench.idx_none.url, *down.args, *reqs],
                wrap=down.wrap,
                expect_fallback=True,
            )

        out["a_vs_e"] = _pairs(
            bench, "fallback over pip's index path", (OWN_CACHE, own_cache), ("(a)", fallback)
        )


def _pairs(bench: Bench, name: str, a: Side, b: Side) -> dict[str, Any]:
    """``a`` (the baseline) and ``b`` in row 2's number of pairs, interleaved."""
    comparison = Comparison(name, a[0], b[0])
    return interleave(comparison, bench.plan.outage_pairs, a[1], b[1], bench.log).as_json()


def report_rows(data: dict[str, Any] | None) -> list[tuple[list[str], bool | None, str]]:
    """Row 2f's two lines (reference rows: no target of their own)."""
    if not data:
        return []
    rows: list[tuple[list[str], bool | None, str]] = []
    for key, what, a, b in (
        (
            "e_vs_c",
            "pip's own index path, nothing downloaded: plain pip through the index (up), every "
            "file in its HTTP cache (e) vs `pip --no-index --find-links` (c)",
            "(c)",
            "(e)",
        ),
        (
            "a_vs_e",
            "pip-ff fallback install, index refused (a) vs (e): what the fallback adds to pip's "
            "own index path",
            "(e)",
            "(a)",
        ),
    ):
        comp = data.get(key)
        if not comp or not comp.get("a"):
            continue
        rows.append(
            (
                [
                    "2f",
                    what,
                    f"{a} {med(comp['a']):.2f} s",
                    f"{b} {med(comp['b']):.2f} s",
                    f"{ratio_text(comp)}, {len(comp['a'])} pairs; CPU {ratio_text(comp, 'cpu')}",
                    "(reference)",
                ],
                None,
                f"2f {key}",
            )
        )
    return rows
