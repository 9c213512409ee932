"""Run the benchmarks and write the results: ``python -m benchmarks.run [--quick] [--out FILE]``.

Run it from the repository root, with the Python whose pip is to be measured (the venvs get that
Python's pip version). Everything is local: the index, the proxies, the outages and the resolver
are on loopback; venvs are filled offline from the test bed's wheels. See benchmarks/__init__.py
for what is measured and how. This is the driver only: the set-up is benchmarks/prepare.py, each
section a module of benchmarks/sections/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from benchmarks import realworld
from benchmarks.bench import Bench
from benchmarks.harness import BenchmarkError
from benchmarks.outages import MODES
from benchmarks.prepare import set_up
from benchmarks.sections import SECTIONS


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="one repetition of each (smoke test)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="Markdown results (default benchmarks/RESULTS.md, with --quick "
        "benchmarks/RESULTS-quick.md); .json and .png beside it",
    )
    parser.add_argument("--pairs", type=int, default=None, help="repetitions per comparison")
    parser.add_argument(
        "--only",
        default="123456789",
        help="which rows to run, e.g. 14 (default: all; 6 comes with 1; r, `pip-ff run`, with 9)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        type=lambda text: [m.strip() for m in text.split(",") if m.strip()],
        help=f"outages of row 2 (default: {','.join(MODES)})",
    )
    parser.add_argument(
        "--real-modes",
        default="refused,dns",
        type=lambda text: [m.strip() for m in text.split(",") if m.strip()],
        help="outages of row 2 on the real workload (default: refused,dns; '' for none: "
        "then nothing is downloaded)",
    )
    parser.add_argument(
        "--download-cache",
        default=None,
        help="where the real workload's wheels are downloaded once (default: "
        f"${realworld.CACHE_ENV}, else ~/.cache/pipff-bench)",
    )
    parser.add_argument(
        "--ref", default=None, help="benchmark pip-ff as committed at this git revision"
    )
    parser.add_argument(
        "--source",
        default=None,
        help="benchmark the pip-ff source tree in this directory (e.g. a scratch copy)",
    )
    parser.add_argument("--label", default=None, help="how the results name the pip-ff under test")
    parser.add_argument("--workdir", default=None, help="where the temporary directory goes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--chart-python",
        default=None,
        help="a Python with matplotlib, for the chart when this one has none",
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def _section(bench: Bench, name: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    bench.results.setdefault("timings", {})[name] = round(time.monotonic() - start, 1)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ref and args.source:
        sys.stderr.write("--ref and --source exclude each other\n")
        return 2
    unknown = [m for m in [*args.modes, *args.real_modes] if m not in MODES]
    if unknown:
        sys.stderr.write(f"unknown --modes {unknown}; known: {', '.join(MODES)}\n")
        return 2
    if args.out is None:
        name = "RESULTS-quick.md" if args.quick else "RESULTS.md"
        args.out = Path(__file__).resolve().parent / name
    bench = Bench(args)
    failed: list[str] = []
    try:
        with _section(bench, "set-up"):
            set_up(bench)
        for rows, name, run in SECTIONS:
            if any(row in args.only for row in rows):
                with _section(bench, name):
                    try:
                        run(bench)
                    except Exception as exc:
                        # The other sections' figures stay worth writing: say it and go on.
                        bench.log(f"FAILED section {name}: {exc!r}\n{traceback.format_exc()}")
                        failed.append(name)
    except BenchmarkError as exc:
        bench.log(f"FAILED: {exc}")
        bench.close()
        return 1
    except BaseException:
        bench.close()
        raise
    bench.results["machine"]["loadavg_end"] = os.getloadavg()
    bench.results["total_seconds"] = round(time.monotonic() - bench.t0, 1)
    try:
        from benchmarks import report

        json_path = args.out.with_suffix(".json")
        json_path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(bench.results, indent=1, default=str)
        # The results are committed: no paths of the machine that ran them.
        text = text.replace(str(bench.work), "<workdir>").replace(str(bench.repo), "<repo>")
        text = text.replace(json.dumps(sys.executable)[1:-1], "<python>")  # may be elsewhere
        download_cache = str(realworld.cache_root(args.download_cache))
        text = text.replace(download_cache, "<download cache>")
        json_path.write_text(text + "\n")
        chart_note = report.chart(json_path, args.out.with_suffix(".png"), args.chart_python)
        args.out.write_text(
            report.markdown(bench.results, args.out.with_suffix(".png"), chart_note)
        )
        bench.log(f"wrote {args.out}, {json_path.name}" + ("" if chart_note else ", and the chart"))
    finally:
        bench.close()
    bench.log("done")
    print(args.out.read_text())
    if failed:
        sys.stderr.write(f"failed sections (left out of the results): {', '.join(failed)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
