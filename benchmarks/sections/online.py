"""1 and 6: pip-ff online against plain pip (wall time, CPU, requests; peak memory is row 6), and
the bytes on disk after one online install (every byte stored once)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
    bench.results["sections"]["storage"] = storage(bench.warm_pypi)


def _regular_files(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    for path in root.rglob("*"):
        info = path.lstat()
        if path.is_file() and not path.is_symlink():
            yield path, info


def storage(state: Path) -> dict[str, Any]:
    """Bytes on disk in a pip cache directory left by one online pip-ff install: pip's HTTP
    cache, pip-ff's record (its blobs), how much of the record is the same files as pip's (hard
    links), and how much holds the same bytes as one of pip's files in a copy of its own."""
    pip_files = [x for layout in ("http-v2", "http") for x in _regular_files(state / layout)]
    blobs = list(_regular_files(state / "pip-ff" / "v1" / "blobs"))
    pip_inodes = {(i.st_dev, i.st_ino) for _, i in pip_files}
    pip_hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p, _ in pip_files}
    shared = [i for _, i in blobs if (i.st_dev, i.st_ino) in pip_inodes]
    copies = [
        i
        for p, i in blobs
        if (i.st_dev, i.st_ino) not in pip_inodes
        and hashlib.sha256(p.read_bytes()).hexdigest() in pip_hashes
    ]
    return {
        "pip_http_cache_bytes": sum(i.st_size for _, i in pip_files),
        "record_blob_bytes": sum(i.st_size for _, i in blobs),
        "record_blobs": len(blobs),
        "shared_bytes": sum(i.st_size for i in shared),
        "shared_blobs": len(shared),
        "duplicated_bytes": sum(i.st_size for i in copies),
        "duplicated_blobs": len(copies),
    }
