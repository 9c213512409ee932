"""5: a fallback install from a big store and pip cache against one from small ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks import synth, workload
from benchmarks.bench import PIPFF, Bench
from benchmarks.harness import BenchmarkError, Comparison, interleave
from benchmarks.outages import outage


def make_states(bench: Bench) -> None:
    """A copy of the warm private-index state, and one grown by many synthetic entries."""
    # Both states on a RAM file system where there is one: the big one is written and
    # removed in seconds instead of minutes, and both sides see the same file system.
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        base = Path(tempfile.mkdtemp(prefix="pipff-bench-scale-", dir=shm))
        bench.stack.callback(shutil.rmtree, base, True)
    else:
        base = bench.work
    bench.scale_fs = "tmpfs (/dev/shm)" if base != bench.work else "the work directory's"
    bench.small_state = base / "state-scale-small"
    bench.big_state = base / "state-scale-big"
    shutil.copytree(bench.warm_none, bench.small_state, symlinks=True)
    shutil.copytree(bench.warm_none, bench.big_state, symlinks=True)
    base_url = bench.idx_none.base_url
    start = time.monotonic()
    samples = synth.grow_store(bench.big_state, base_url, bench.plan.store_entries)
    synth.grow_pip_http_cache(bench.big_state, bench.plan.http_cache_entries)
    bench.scale_files = {
        "small": synth.count_files(bench.small_state),
        "big": synth.count_files(bench.big_state),
        "store_entries_added": bench.plan.store_entries,
        "http_cache_entries_added": bench.plan.http_cache_entries,
        "seconds_to_generate": round(time.monotonic() - start, 1),
        "file_system": bench.scale_fs,
    }
    # Read one synthetic entry back with the product's own Store: the layout is right.
    code = (
        "import sys\n"
        "from pip_offline_fallback.store import Store\n"
        "entry = Store(sys.argv[1]).lookup(sys.argv[2])\n"
        "body = entry and Store(sys.argv[1]).open_verified(entry)\n"
        "raise SystemExit(0 if body else 'synthetic entry not readable')\n"
    )
    done = subprocess.run(
        [
            str(bench.template / "bin" / "python"),
            "-c",
            code,
            str(bench.big_state / "pip-ff"),
            samples[-1],
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=bench.cwd,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"synthetic store check failed: {done.stdout}{done.stderr}")
    bench.log(f"big state ready: {bench.scale_files}")


def run(bench: Bench) -> None:
    bench.log("5. scale: a big store and pip cache vs small ones (index refused)")
    reqs = list(workload.REQUIREMENTS)
    with outage("refused", bench.idx_none):
        comparison = interleave(
            Comparison("scale", "small store", "big store"),
            bench.plan.scale_pairs,
            lambda i: bench.install(
                "small store",
                PIPFF,
                None,
                ["-i", bench.idx_none.url, *reqs],
                cache=bench.small_state,
                expect_fallback=True,
            ),
            lambda i: bench.install(
                "big store",
                PIPFF,
                None,
                ["-i", bench.idx_none.url, *reqs],
                cache=bench.big_state,
                expect_fallback=True,
            ),
            bench.log,
        )
    section = comparison.as_json()
    section["files"] = bench.scale_files
    bench.results["sections"]["scale"] = section
