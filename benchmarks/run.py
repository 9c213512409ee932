"""Run every benchmark and write the results: ``python -m benchmarks.run [--quick] [--out FILE]``.

Run it from the repository root, with the Python whose pip is to be measured (the venvs get that
Python's pip version). Everything is local: the index, the proxies, the outages and the resolver
are on loopback; venvs are filled offline from the test bed's wheels. See benchmarks/__init__.py
for what is measured and how.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks import machine, synth, tls, workload
from benchmarks.harness import (
    BenchmarkError,
    Comparison,
    Sample,
    bootstrap_median_ci,
    interleave,
    measure,
    median,
)
from benchmarks.outages import (
    DNS_HOST,
    MODES,
    NxdomainResolver,
    RelativeFilesIndex,
    dns_unavailable_reason,
    outage,
)
from testbed import (
    BlackHoleServer,
    ForwardingProxy,
    IndexServer,
    ToolWheels,
    Venv,
    clone_venv,
    closed_port_url,
    isolated_env,
    make_template,
)
from testbed.prepare import build_project_wheel, repo_root

PIP = "pip"
PIPFF = "pip_offline_fallback"
INSTALL_TIMEOUT = 600


class Plan:
    """How many repetitions of what: the full run, or --quick (a smoke test)."""

    def __init__(self, quick: bool, pairs: int | None) -> None:
        self.quick = quick
        self.online_pairs = pairs if pairs is not None else (1 if quick else 5)
        self.outage_pairs = pairs if pairs is not None else (1 if quick else 4)
        self.fail_runs = 1 if quick else 2  # plain pip's time to fail (refused, DNS, proxy)
        self.blackhole_fail_runs = 1 if quick else 2  # ~100 s each, in the background
        # pip's defaults make that wait ~100 s; a smoke test can't afford it.
        self.blackhole_fail_args = ["--timeout", "1", "--retries", "0"] if quick else []
        self.decision_runs = 1 if quick else 3
        self.prefer_offline_pairs = pairs if pairs is not None else (1 if quick else 4)
        self.scale_pairs = pairs if pairs is not None else (1 if quick else 4)
        self.chain_pairs = pairs if pairs is not None else (1 if quick else 4)
        self.startup_runs = 20 if quick else 200
        self.version_runs = 3 if quick else 20
        self.store_entries = 2_500 if quick else 25_000  # an entry is two files
        self.http_cache_entries = 2_000 if quick else 20_000


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = Plan(args.quick, args.pairs)
        self.repo = repo_root()
        self.work = Path(tempfile.mkdtemp(prefix="pipff-bench-", dir=args.workdir))
        # Every command runs from here: from the repository root, ``python -m
        # pip_offline_fallback`` would import the working tree's package instead of the venv's.
        self.cwd = self.work / "cwd"
        self.cwd.mkdir()
        self.t0 = time.monotonic()
        self.results: dict[str, Any] = {"quick": args.quick, "sections": {}}
        self._numbers = itertools.count(1)  # next() is atomic: the background thread uses it too
        self._pool: list[Path] = []
        self._stack = contextlib.ExitStack()
        self.resolver: NxdomainResolver | None = None
        self.dns_skipped: str | None = None
        self.background: list[Sample] = []
        self._background_threads: list[threading.Thread] = []
        self._background_errors: list[BaseException] = []

    # -- small helpers -----------------------------------------------------------------------

    def log(self, message: str) -> None:
        elapsed = time.monotonic() - self.t0
        sys.stderr.write(f"[{elapsed:6.1f}s] {message}\n")
        sys.stderr.flush()

    def _fresh(self, what: str) -> Path:
        return self.work / f"{what}-{next(self._numbers):04d}"

    def fresh_venv(self) -> Venv:
        if self._pool:
            return Venv(self._pool.pop(0))
        return clone_venv(self.template, self._fresh("venv"))

    def _fill_pool(self, until: Callable[[], bool], limit: int) -> None:
        """Clone venvs ahead of time while the set-up waits anyway (the clones are identical)."""
        while len(self._pool) < limit and not until():
            self._pool.append(clone_venv(self.template, self._fresh("venv")).path)

    def cache_from(self, state: Path | None) -> Path:
        """A private copy of a pip cache directory (an empty one for None)."""
        path = self._fresh("cache")
        if state is None:
            path.mkdir()
        else:
            shutil.copytree(state, path, symlinks=True)
        return path

    @staticmethod
    def discard(*paths: Path) -> None:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
            # Venv() makes an (empty) default pip cache directory beside every venv.
            shutil.rmtree(path.with_name(path.name + "-pip-cache"), ignore_errors=True)

    def argv(self, venv: Venv, tool: str, *args: str) -> list[str]:
        return [str(venv.python), "-m", tool, *args]

    @staticmethod
    def installed(venv: Venv) -> dict[str, str]:
        """bench-* distributions in the venv (from the .dist-info names: no subprocess)."""
        found = {}
        for entry in venv.site_packages.glob("*.dist-info"):
            name, _, version = entry.name[: -len(".dist-info")].partition("-")
            name = re.sub(r"[-_.]+", "-", name).lower()
            if name.startswith("bench-"):
                found[name] = version
        return found

    def check_install(self, sample: Sample, venv: Venv) -> Sample:
        if sample.returncode != 0:
            raise BenchmarkError(f"{sample.label} failed:\n{sample.output[-4000:]}")
        got = self.installed(venv)
        if got != workload.expected():
            raise BenchmarkError(
                f"{sample.label} installed {got}, expected {workload.expected()}\n"
                f"{sample.output[-3000:]}"
            )
        return sample

    def install(
        self,
        label: str,
        tool: str,
        state: Path | None,
        args: Sequence[str],
        *,
        wrap: Callable[[Sequence[str]], list[str]] = list,
        expect_fallback: bool = False,
        before: Callable[[], None] | None = None,
        after: Callable[[Sample], None] | None = None,
        keep_cache: bool = False,
        cache: Path | None = None,
        env_extra: dict[str, str] | None = None,
    ) -> Sample:
        """One measured install into a fresh venv with a private copy of ``state``."""
        venv = self.fresh_venv()
        cache_dir = cache if cache is not None else self.cache_from(state)
        env = isolated_env(cache_dir, **(env_extra or {}))
        argv = wrap(self.argv(venv, tool, "install", *args))
        if before is not None:
            before()
        sample = measure(label, argv, env, timeout=INSTALL_TIMEOUT, cwd=self.cwd)
        if after is not None:
            after(sample)
        try:
            self.check_install(sample, venv)
            if expect_fallback:
                causes = unreachable_causes(sample.output)
                if not causes:
                    raise BenchmarkError(f"{label}: pip-ff did not fall back:\n{sample.output}")
                sample.extra["causes"] = causes
        finally:
            self.discard(venv.path)
            if cache is None and not keep_cache:
                self.discard(cache_dir)
        return sample

    # -- set-up ------------------------------------------------------------------------------

    def setup(self) -> None:
        self.log(f"work directory {self.work}")
        wheels_dir = self.work / "wheels"
        wheels_dir.mkdir()
        source = ToolWheels.cache_dir()
        if not ToolWheels(source).is_complete():
            # The test bed's one set-up step (it may download pip's wheels through the
            # machine's pip configuration); then the cache is complete.
            source = ToolWheels.locate().path
        for wheel in source.glob("*.whl"):
            if not wheel.name.startswith("pip_offline_fallback-"):
                shutil.copy2(wheel, wheels_dir)
        repo = Path(self.args.source).resolve() if self.args.source else self.repo
        if self.args.ref:
            repo = self.work / "ref-source"
            repo.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(self.repo), "archive", self.args.ref],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
        project_wheel = build_project_wheel(wheels_dir, repo)
        os.environ["PIPFF_TEST_WHEELS"] = str(wheels_dir)
        self.tool_wheels = ToolWheels.locate()
        if self.tool_wheels.path != wheels_dir:
            raise BenchmarkError(f"ToolWheels.locate() chose {self.tool_wheels.path}")
        self.results["machine"] = machine.describe(
            self.repo, self.tool_wheels.pip_version, project_wheel, self.args.ref, self.args.source
        )
        if self.args.label:
            self.results["machine"]["pipff_source"] = self.args.label
        self.log(
            f"pip {self.tool_wheels.pip_version}, pip-ff wheel {project_wheel.name} "
            f"({self.results['machine']['pipff_source']})"
        )
        self.template = make_template(self.work / "template", self.tool_wheels)
        self.log("template venv ready")

        self.dist_dir = self.work / "dists"
        files = workload.build(self.dist_dir)
        self.log(f"{len(files)} distribution files built")
        self.wheelhouse = self.work / "wheelhouse"
        shutil.copytree(self.dist_dir, self.wheelhouse)

        # PyPI-like (https: pip caches https answers only; PyPI's cache headers), a private
        # index (http, no cache headers), and one reached by a name (DNS outage).
        ca = tls.make_ca(self.work / "ca")
        self.idx_pypi = self._stack.enter_context(
            IndexServer(self.dist_dir, cache_headers="pypi", https=ca)
        )
        self.pypi_env: dict[str, str] = {}
        if self.idx_pypi.ca_bundle is not None:
            # The variable, not --cert: pip < 26 does not pass --cert on to build isolation.
            self.pypi_env["PIP_CERT"] = str(self.idx_pypi.ca_bundle)
        else:
            self.log("no openssl and no trustme: the PyPI-like index is plain http")
        self.idx_none = self._stack.enter_context(IndexServer(self.dist_dir, cache_headers="none"))
        self.idx_dns = self._stack.enter_context(
            RelativeFilesIndex(self.dist_dir, cache_headers="none")
        )
        self.dns_url = f"http://{DNS_HOST}:{self.idx_dns.port}/simple/"

        reason = dns_unavailable_reason()
        if reason is None:
            try:
                self.resolver = NxdomainResolver(self.work)
                self._stack.callback(self.resolver.close)
                message = self.resolver.check(sys.executable)
                self.log(f"loopback resolver on {self.resolver.address}: {message}")
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                reason = f"could not stage it: {exc}"
                self.resolver = None
        if reason is not None:
            self.dns_skipped = reason
            self.log(f"DNS outage skipped: {reason}")

        if "2" in self.args.only and "blackhole" in self.args.modes:
            self._start_blackhole_failures()

        # Warm states: what a pip cache directory holds after one online run.
        reqs = list(workload.REQUIREMENTS)
        self.warm_pypi = self._warm(
            "warm-pypi", PIPFF, ["-i", self.idx_pypi.url, *reqs], env_extra=self.pypi_env
        )
        self.warm_none = self._warm("warm-none", PIPFF, ["-i", self.idx_none.url, *reqs])
        self.warm_wheelhouse = self._warm(
            "warm-wheelhouse", PIP, ["--no-index", "--find-links", str(self.wheelhouse), *reqs]
        )
        if self.resolver is not None and "2" in self.args.only and "dns" in self.args.modes:
            with ForwardingProxy(self.idx_dns) as proxy:
                self.warm_dns = self._warm(
                    "warm-dns",
                    PIPFF,
                    ["-i", self.dns_url, "--trusted-host", DNS_HOST, "--proxy", proxy.url, *reqs],
                    wrap=self.resolver.wrap,
                )
        if "5" in self.args.only:
            self._make_big_state()
        self._join_background()
        self.log("set-up done")

    def _warm(
        self,
        name: str,
        tool: str,
        args: list[str],
        wrap: Callable[[Sequence[str]], list[str]] = list,
        env_extra: dict[str, str] | None = None,
    ) -> Path:
        state = self.work / f"state-{name}"
        state.mkdir()
        self.install(
            f"warm-up {name}", tool, None, args, wrap=wrap, cache=state, env_extra=env_extra
        )
        self.log(f"warm state {name} ready ({synth.count_files(state)} files)")
        return state

    def _make_big_state(self) -> None:
        # Both states on a RAM file system where there is one: the big one is written and
        # removed in seconds instead of minutes, and both sides see the same file system.
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK):
            base = Path(tempfile.mkdtemp(prefix="pipff-bench-scale-", dir=shm))
            self._stack.callback(shutil.rmtree, base, True)
        else:
            base = self.work
        self.scale_fs = "tmpfs (/dev/shm)" if base != self.work else "the work directory's"
        self.small_state = base / "state-scale-small"
        self.big_state = base / "state-scale-big"
        shutil.copytree(self.warm_none, self.small_state, symlinks=True)
        shutil.copytree(self.warm_none, self.big_state, symlinks=True)
        base_url = self.idx_none.base_url
        start = time.monotonic()
        samples = synth.grow_store(self.big_state, base_url, self.plan.store_entries)
        synth.grow_pip_http_cache(self.big_state, self.plan.http_cache_entries)
        self.scale_files = {
            "small": synth.count_files(self.small_state),
            "big": synth.count_files(self.big_state),
            "store_entries_added": self.plan.store_entries,
            "http_cache_entries_added": self.plan.http_cache_entries,
            "seconds_to_generate": round(time.monotonic() - start, 1),
            "file_system": self.scale_fs,
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
                str(self.template / "bin" / "python"),
                "-c",
                code,
                str(self.big_state / "pip-ff"),
                samples[-1],
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.cwd,
        )
        if done.returncode != 0:
            raise BenchmarkError(f"synthetic store check failed: {done.stdout}{done.stderr}")
        self.log(f"big state ready: {self.scale_files}")

    def _start_blackhole_failures(self) -> None:
        """Plain pip against a black hole, with pip's defaults, takes minutes of waiting.

        It runs in the background during the set-up (nothing else is measured then): the wait
        is timeouts, not work, and the set-up's load only stretches pip's own start-up.
        """
        server = BlackHoleServer(lifetime=400)
        self._stack.callback(server.stop)
        venv = clone_venv(self.template, self._fresh("venv-blackhole"))
        url = server.url

        def one(i: int) -> None:
            try:
                time.sleep(4 * i)
                cache = self.cache_from(None)
                flags = self.plan.blackhole_fail_args
                args = ["install", "-i", url, *flags, *workload.REQUIREMENTS]
                sample = measure(
                    "pip fails (blackhole)",
                    self.argv(venv, PIP, *args),
                    isolated_env(cache),
                    timeout=INSTALL_TIMEOUT,
                    cwd=self.cwd,
                )
                if sample.returncode == 0:
                    raise BenchmarkError("plain pip succeeded against a black hole?")
                if flags:
                    sample.extra["not_pip_defaults"] = " ".join(flags)
                self.background.append(sample)
            except BaseException as exc:  # reported by _join_background
                self._background_errors.append(exc)

        for i in range(self.plan.blackhole_fail_runs):
            thread = threading.Thread(target=one, args=(i,), daemon=True)
            thread.start()
            self._background_threads.append(thread)
        self.log(
            f"{self.plan.blackhole_fail_runs} plain-pip black-hole run(s) started in the background"
        )

    def _join_background(self) -> None:
        if self._background_threads:
            self.log("waiting for the background black-hole run(s); cloning venvs meanwhile")
            self._fill_pool(
                lambda: not any(t.is_alive() for t in self._background_threads), limit=120
            )
            self.log(f"{len(self._pool)} venvs cloned ahead")
        for thread in self._background_threads:
            thread.join()
        self._background_threads.clear()
        if self._background_errors:
            raise self._background_errors[0]

    def close(self) -> None:
        self._stack.close()
        if self.args.keep:
            self.log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- 1 and 6: online overhead and memory -------------------------------------------------

    def online(self) -> None:
        reqs = list(workload.REQUIREMENTS)
        variants = [
            ("warm caches, PyPI-like index", self.idx_pypi, self.warm_pypi, self.pypi_env),
            ("warm caches, private index", self.idx_none, self.warm_none, {}),
            ("cold caches, PyPI-like index", self.idx_pypi, None, self.pypi_env),
        ]
        out = []
        for name, index, state, extra in variants:
            self.log(f"1. online: {name}")

            def run(
                tool: str,
                label: str,
                state: Path | None = state,
                index: IndexServer = index,
                extra: dict[str, str] = extra,
            ) -> Callable[[int], Sample]:
                def after(sample: Sample) -> None:
                    sample.extra["requests"] = len(index.requested())

                return lambda i: self.install(
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
                self.plan.online_pairs,
                run(PIP, "pip"),
                run(PIPFF, "pip-ff"),
                self.log,
            )
            out.append(comparison.as_json())
        self.results["sections"]["online"] = out

    # -- 2: outages --------------------------------------------------------------------------

    def outages(self) -> None:
        reqs = list(workload.REQUIREMENTS)
        out: dict[str, Any] = {}
        for mode in MODES:
            if mode not in self.args.modes:
                continue
            if mode == "dns" and self.resolver is None:
                out[mode] = {"skipped": self.dns_skipped}
                continue
            index = self.idx_dns if mode == "dns" else self.idx_none
            url = self.dns_url if mode == "dns" else index.url
            state = self.warm_dns if mode == "dns" else self.warm_none
            self.log(f"2. outage: {mode}")
            with outage(mode, index, self.resolver) as down:
                decisions = [
                    self._decision(mode, url, state, down.args, down.wrap)
                    for _ in range(self.plan.decision_runs)
                ]
                comparison = interleave(
                    Comparison(mode, "wheelhouse (c)", "pip-ff fallback (a)"),
                    self.plan.outage_pairs,
                    lambda i: self.install(
                        "pip --no-index --find-links",
                        PIP,
                        self.warm_wheelhouse,
                        ["--no-index", "--find-links", str(self.wheelhouse), *reqs],
                        wrap=down.wrap,
                    ),
                    lambda i, state=state, url=url: self.install(
                        "pip-ff fallback",
                        PIPFF,
                        state,
                        ["-i", url, *down.args, *reqs],
                        wrap=down.wrap,
                        expect_fallback=True,
                    ),
                    self.log,
                )
                if mode == "blackhole":
                    failures = list(self.background)
                else:
                    failures = [
                        self._pip_fails(mode, url, state, down.args, down.wrap)
                        for _ in range(self.plan.fail_runs)
                    ]
                self.log(
                    f"  {mode}: plain pip fails after "
                    + ", ".join(f"{s.wall:.1f}s" for s in failures)
                    + "; decision "
                    + ", ".join(f"{d['first_attempt_to_decision']:.3f}s" for d in decisions)
                )
            out[mode] = {
                "comparison": comparison.as_json(),
                "pip_fails": [s.as_json() for s in failures],
                "decisions": decisions,
            }
        self.results["sections"]["outages"] = out

    def _pip_fails(
        self,
        mode: str,
        url: str,
        state: Path,
        args: list[str],
        wrap: Callable[[Sequence[str]], list[str]],
    ) -> Sample:
        venv = self.fresh_venv()
        cache = self.cache_from(state)
        try:
            argv = wrap(self.argv(venv, PIP, "install", "-i", url, *args, *workload.REQUIREMENTS))
            sample = measure(
                f"pip fails ({mode})", argv, isolated_env(cache), timeout=600, cwd=self.cwd
            )
        finally:
            self.discard(venv.path, cache)
        if sample.returncode == 0:
            raise BenchmarkError(f"plain pip succeeded during the {mode} outage?")
        return sample

    def _decision(
        self,
        mode: str,
        url: str,
        state: Path,
        args: list[str],
        wrap: Callable[[Sequence[str]], list[str]],
    ) -> dict[str, Any]:
        """pip-ff with ``-v --log``: from the first connection attempt to the fallback decision."""
        venv = self.fresh_venv()
        cache = self.cache_from(state)
        log = self._fresh("pip-log").with_suffix(".txt")
        first = workload.REQUIREMENTS[0]
        try:
            argv = wrap(
                self.argv(
                    venv,
                    PIPFF,
                    "install",
                    "--dry-run",
                    "--no-deps",
                    "-v",
                    "--log",
                    str(log),
                    "-i",
                    url,
                    *args,
                    first,
                )
            )
            sample = measure(
                f"pip-ff decision ({mode})", argv, isolated_env(cache), timeout=600, cwd=self.cwd
            )
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        finally:
            self.discard(venv.path, cache)
            with contextlib.suppress(OSError):
                log.unlink()
        if sample.returncode != 0:
            raise BenchmarkError(f"decision run ({mode}) failed:\n{sample.output[-3000:]}")
        found = decision_from_log(text)
        if found is None:
            raise BenchmarkError(
                f"decision run ({mode}): no connection attempt / unreachable warning in the log:\n"
                f"{text[-3000:]}"
            )
        found["wall"] = sample.wall
        return found

    # -- 7: a dead fallback index in the chain -------------------------------------------------

    def chain(self) -> None:
        """Primary refused; the same fallback install without and with a dead mirror first.

        The mirror is asked before local sources, so a dead one costs its own decision once
        (refused: at once; black hole: the connect deadline), then it is skipped like the primary.
        """
        index = self.idx_none
        reqs = list(workload.REQUIREMENTS)
        out: dict[str, Any] = {}
        with outage("refused", index):
            for kind in ("refused", "blackhole"):
                self.log(f"7. dead fallback index: {kind}")
                with contextlib.ExitStack() as stack:
                    if kind == "refused":
                        mirror = closed_port_url()
                    else:
                        mirror = stack.enter_context(BlackHoleServer()).url
                    comparison = interleave(
                        Comparison(f"chain-{kind}", "no fallback index", "dead fallback index"),
                        self.plan.chain_pairs,
                        lambda i: self.install(
                            "pip-ff fallback",
                            PIPFF,
                            self.warm_none,
                            ["-i", index.url, *reqs],
                            expect_fallback=True,
                        ),
                        lambda i, mirror=mirror: self.install(
                            "pip-ff fallback, dead mirror",
                            PIPFF,
                            self.warm_none,
                            ["-i", index.url, "--fallback-index-url", mirror, *reqs],
                            expect_fallback=True,
                        ),
                        self.log,
                    )
                out[kind] = comparison.as_json()
        self.results["sections"]["chain"] = out

    # -- 3: prefer-offline -------------------------------------------------------------------

    def prefer_offline(self) -> None:
        index = self.idx_none
        index.start()  # it may have been stopped by an outage
        reqs = list(workload.pinned_requirements())
        self.log("3. prefer-offline, all pinned, every file local")

        def counted(label: str, tool: str, extra: list[str]) -> Callable[[int], Sample]:
            def after(sample: Sample) -> None:
                sample.extra["requests"] = len(index.requested())
                sample.extra["connections"] = index.connections

            return lambda i: self.install(
                label,
                tool,
                self.warm_none,
                [*extra, "-i", index.url, *reqs],
                before=index.clear_log,
                after=after,
            )

        comparison = interleave(
            Comparison("prefer-offline", "pip (online)", "pip-ff --prefer-offline"),
            self.plan.prefer_offline_pairs,
            counted("pip", PIP, []),
            counted("pip-ff --prefer-offline", PIPFF, ["--prefer-offline"]),
            self.log,
        )
        self.results["sections"]["prefer_offline"] = comparison.as_json()

    # -- 4: start-up -------------------------------------------------------------------------

    def startup(self) -> None:
        self.log("4. start-up")
        with_pipff = self.fresh_venv()
        without = [self.fresh_venv(), self.fresh_venv()]
        for venv in without:
            venv.pip("uninstall", "-y", "pip-offline-fallback", cwd=self.cwd).check()
            if list(venv.site_packages.glob("pip_offline_fallback*")):
                raise BenchmarkError("pip-offline-fallback is still in the venv after uninstall")
        hook = with_pipff.site_packages / "pip_offline_fallback.pth"
        if not hook.is_file():
            raise BenchmarkError(f"no start-up hook in {with_pipff.site_packages}")
        env = isolated_env(self._fresh("cache"))
        venvs = {
            "without pip-ff": without[0],
            "with pip-ff": with_pipff,
            "without (A/A)": without[1],
        }
        samples: dict[str, list[Sample]] = {name: [] for name in venvs}
        names = list(venvs)
        for i in range(self.plan.startup_runs):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                argv = [str(venvs[name].python), "-c", "pass"]
                samples[name].append(measure(name, argv, env, timeout=60, cwd=self.cwd))
        base = samples["without pip-ff"]
        diffs = [b.wall - a.wall for a, b in zip(base, samples["with pip-ff"])]
        control = [b.wall - a.wall for a, b in zip(base, samples["without (A/A)"])]
        section: dict[str, Any] = {
            "runs": self.plan.startup_runs,
            "median_ms": {k: median([s.wall for s in v]) * 1000 for k, v in samples.items()},
            "median_cpu_ms": {k: median([s.cpu for s in v]) * 1000 for k, v in samples.items()},
            "diff_ms": median(diffs) * 1000,
            "diff_ci_ms": [x * 1000 for x in bootstrap_median_ci(diffs)],
            "control_diff_ms": median(control) * 1000,
            "control_ci_ms": [x * 1000 for x in bootstrap_median_ci(control)],
            "iqr_ms": {k: _iqr([s.wall for s in v]) * 1000 for k, v in samples.items()},
        }
        self.log(
            f"  python -c pass: {section['median_ms']}, diff {section['diff_ms']:.2f} ms, "
            f"A/A {section['control_diff_ms']:.2f} ms"
        )

        plain = dict(env)
        hooked = dict(env, PIPFF="1")
        version = [str(with_pipff.python), "-m", "pip", "--version"]
        comparison = interleave(
            Comparison("pip --version", "PIPFF unset", "PIPFF=1"),
            self.plan.version_runs,
            lambda i: measure("PIPFF unset", version, plain, cwd=self.cwd),
            lambda i: measure("PIPFF=1", version, hooked, cwd=self.cwd),
        )
        for s in comparison.a + comparison.b:
            if s.returncode != 0:
                raise BenchmarkError(f"pip --version failed:\n{s.output}")
        section["pip_version"] = comparison.as_json()
        section["pip_version_added_ms"] = (
            median([b.wall - a.wall for a, b in zip(comparison.a, comparison.b)]) * 1000
        )
        self.log(
            f"  python -m pip --version: unset {comparison.med('a') * 1000:.0f} ms, PIPFF=1 "
            f"{comparison.med('b') * 1000:.0f} ms"
        )
        self.results["sections"]["startup"] = section
        self.discard(with_pipff.path, *(v.path for v in without))

    # -- 5: scale ----------------------------------------------------------------------------

    def scale(self) -> None:
        self.log("5. scale: a big store and pip cache vs small ones (index refused)")
        reqs = list(workload.REQUIREMENTS)
        with outage("refused", self.idx_none):
            comparison = interleave(
                Comparison("scale", "small store", "big store"),
                self.plan.scale_pairs,
                lambda i: self.install(
                    "small store",
                    PIPFF,
                    None,
                    ["-i", self.idx_none.url, *reqs],
                    cache=self.small_state,
                    expect_fallback=True,
                ),
                lambda i: self.install(
                    "big store",
                    PIPFF,
                    None,
                    ["-i", self.idx_none.url, *reqs],
                    cache=self.big_state,
                    expect_fallback=True,
                ),
                self.log,
            )
        section = comparison.as_json()
        section["files"] = self.scale_files
        self.results["sections"]["scale"] = section


# -- log parsing -----------------------------------------------------------------------------

_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d),(\d{3}) (.*)$")


def decision_from_log(text: str) -> dict[str, Any] | None:
    """From pip's ``--log`` file: when the first connection was attempted, when pip-ff decided.

    pip stamps every line of its log file (millisecond resolution); with ``-v`` urllib3's
    "Starting new HTTP connection" lines are in it, one per connection attempt.
    """
    attempts: list[float] = []
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if not match:
            continue
        stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").timestamp()
        stamp += int(match.group(2)) / 1000
        message = match.group(3)
        if "Starting new HTTP" in message:
            attempts.append(stamp)
        elif "pip-ff:" in message and "is unreachable (" in message:
            if not attempts:
                return None
            cause = message.split("is unreachable (", 1)[1].split(")", 1)[0]
            return {
                "first_attempt_to_decision": round(stamp - attempts[0], 3),
                "last_attempt_to_decision": round(stamp - attempts[-1], 3),
                "attempts": len(attempts),
                "cause": cause,
            }
    return None


def unreachable_causes(output: str) -> list[str]:
    # "pip-ff: HOST is unreachable (...)", or "pip-ff: proxy URL is unreachable (...)"
    return re.findall(r"pip-ff: (?:proxy )?\S+ is unreachable \(([^)]*)\)", output)


def _iqr(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if len(ordered) < 4:
        return float("nan")
    n = len(ordered)
    return ordered[(3 * n) // 4] - ordered[n // 4]


# -- the command -----------------------------------------------------------------------------


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
        default="1234567",
        help="which rows to run, e.g. 14 (default: all; 6 comes with 1)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        type=lambda text: [m.strip() for m in text.split(",") if m.strip()],
        help=f"outages of row 2 (default: {','.join(MODES)})",
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
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        sys.stderr.write(f"unknown --modes {unknown}; known: {', '.join(MODES)}\n")
        return 2
    if args.out is None:
        name = "RESULTS-quick.md" if args.quick else "RESULTS.md"
        args.out = Path(__file__).resolve().parent / name
    bench = Bench(args)
    try:
        with _section(bench, "set-up"):
            bench.setup()
        sections = (  # rows (6 comes with 1), their name, what runs them; in this order
            ("16", "1. online", bench.online),
            ("3", "3. prefer-offline", bench.prefer_offline),
            ("4", "4. start-up", bench.startup),
            ("2", "2. outages", bench.outages),
            ("5", "5. scale", bench.scale),
            ("7", "7. dead fallback index", bench.chain),
        )
        for rows, name, run in sections:
            if any(row in args.only for row in rows):
                with _section(bench, name):
                    run()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
