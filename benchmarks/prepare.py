"""The set-up of a benchmark run: wheels, the template venv, the workload, the indexes, the
loopback resolver and the warm states every section starts from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import machine, realworld, tls, workload
from benchmarks.bench import PIP, PIPFF, Bench, Workload
from benchmarks.dns import NxdomainResolver, dns_unavailable_reason
from benchmarks.harness import BenchmarkError
from benchmarks.sections import fallback, scale
from testbed import IndexServer, ToolWheels, Venv, make_template
from testbed.prepare import build_project_wheel


def set_up(bench: Bench) -> None:
    bench.log(f"work directory {bench.work}")
    wheels_dir = bench.work / "wheels"
    wheels_dir.mkdir()
    source = ToolWheels.cache_dir()
    if not ToolWheels(source).is_complete():
        # The test bed's one set-up step (it may download pip's wheels through the
        # machine's pip configuration); then the cache is complete.
        source = ToolWheels.locate().path
    for wheel in source.glob("*.whl"):
        if not wheel.name.startswith("pip_offline_fallback-"):
            shutil.copy2(wheel, wheels_dir)
    repo = Path(bench.args.source).resolve() if bench.args.source else bench.repo
    if bench.args.ref:
        repo = bench.work / "ref-source"
        repo.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(bench.repo), "archive", bench.args.ref],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    project_wheel = build_project_wheel(wheels_dir, repo)
    os.environ["PIPFF_TEST_WHEELS"] = str(wheels_dir)
    bench.tool_wheels = ToolWheels.locate()
    if bench.tool_wheels.path != wheels_dir:
        raise BenchmarkError(f"ToolWheels.locate() chose {bench.tool_wheels.path}")
    bench.results["machine"] = machine.describe(
        bench.repo, bench.tool_wheels.pip_version, project_wheel, bench.args.ref, bench.args.source
    )
    if bench.args.label:
        bench.results["machine"]["pipff_source"] = bench.args.label
    bench.log(
        f"pip {bench.tool_wheels.pip_version}, pip-ff wheel {project_wheel.name} "
        f"({bench.results['machine']['pipff_source']})"
    )
    bench.template = make_template(bench.work / "template", bench.tool_wheels)
    bench.log("template venv ready")

    bench.dist_dir = bench.work / "dists"
    files = workload.build(bench.dist_dir)
    bench.log(f"{len(files)} distribution files built")
    bench.wheelhouse = bench.work / "wheelhouse"
    shutil.copytree(bench.dist_dir, bench.wheelhouse)
    bench.synthetic = Workload(
        "synthetic",
        workload.REQUIREMENTS,
        workload.expected(),
        bench.dist_dir,
        bench.wheelhouse,
        owns=("bench-",),
    )
    _real_workload(bench)

    # PyPI-like (https: pip caches https answers only; PyPI's cache headers), a private
    # index (http, no cache headers), and one reached by a name (DNS outage).
    ca = bench.ca = tls.make_ca(bench.work / "ca")
    bench.idx_pypi = bench.stack.enter_context(
        IndexServer(bench.dist_dir, cache_headers="pypi", https=ca)
    )
    bench.pypi_env = {}
    if bench.idx_pypi.ca_bundle is not None:
        # The variable, not --cert: pip < 26 does not pass --cert on to build isolation.
        bench.pypi_env["PIP_CERT"] = str(bench.idx_pypi.ca_bundle)
    else:
        bench.log("no openssl and no trustme: the PyPI-like index is plain http")
    bench.idx_none = bench.stack.enter_context(IndexServer(bench.dist_dir, cache_headers="none"))

    reason = dns_unavailable_reason()
    if reason is None:
        try:
            bench.resolver = NxdomainResolver(bench.work)
            bench.stack.callback(bench.resolver.close)
            message = bench.resolver.check(sys.executable)
            bench.log(f"loopback resolver on {bench.resolver.address}: {message}")
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            reason = f"could not stage it: {exc}"
            bench.resolver = None
    if reason is not None:
        bench.dns_skipped = reason
        bench.log(f"DNS outage skipped: {reason}")

    if "2" in bench.args.only:
        fallback.start_plain_pip_waits(bench)

    # Warm states: what a pip cache directory holds after one online run.
    reqs = list(workload.REQUIREMENTS)
    bench.warm_pypi = bench.warm(
        "pypi", PIPFF, ["-i", bench.idx_pypi.url, *reqs], env_extra=bench.pypi_env
    )
    bench.warm_none = bench.warm("none", PIPFF, ["-i", bench.idx_none.url, *reqs])
    bench.warm_wheelhouse = bench.warm(
        "wheelhouse", PIP, ["--no-index", "--find-links", str(bench.wheelhouse), *reqs]
    )
    if "2" in bench.args.only or "8" in bench.args.only:
        fallback.prepare(bench)
    if "5" in bench.args.only:
        scale.make_states(bench)
    bench.join_background()
    bench.log("set-up done")


def _real_workload(bench: Bench) -> None:
    """The real workload from the benchmarks' download cache (downloaded once, when it can)."""
    if "2" not in bench.args.only or not bench.args.real_modes:
        bench.real_skipped = "not asked for (no --real-modes, or row 2 not run)"
        return
    root = realworld.cache_root(bench.args.download_cache)
    directory, how = realworld.locate(root)
    if directory is None:
        bench.real_skipped = how
        bench.log(f"real workload skipped: {how}")
        return
    everything = Workload("any", (), {}, bench.template, bench.template, owns=("",))
    template_has = set(bench.installed(Venv(bench.template), everything))
    load = Workload(
        "real",
        realworld.REQUIREMENTS,
        realworld.expected(directory, template_has),
        directory,
        directory,
    )
    load.info = {**realworld.describe(directory), "distributions": len(load.expected)}
    bench.real = load
    bench.log(f"real workload: {load.info['files']} files, {load.info['mib']} MiB ({how})")
