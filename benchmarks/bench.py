"""The state of one benchmark run (:class:`Bench`) and its plan (:class:`Plan`)."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import synth
from benchmarks.dns import NxdomainResolver
from benchmarks.harness import BenchmarkError, Sample, measure
from testbed import IndexServer, ToolWheels, Venv, clone_venv, isolated_env
from testbed.prepare import repo_root

PIP = "pip"
PIPFF = "pip_offline_fallback"
INSTALL_TIMEOUT = 600


@dataclass
class Workload:
    """What an install installs: its requirements, its files, and what it must end with."""

    name: str  # "synthetic" or "real"
    requirements: tuple[str, ...]
    expected: Mapping[str, str]  # canonical name -> version, after an install
    dist_dir: Path  # what the loopback indexes serve
    wheelhouse: Path  # the same files, for ``pip install --no-index --find-links``
    owns: tuple[str, ...] = ()  # name prefixes that belong to it (checked too)
    info: dict[str, Any] = field(default_factory=dict)  # for the report


@dataclass
class Target:
    """An index that an outage takes away, and the pip cache it left after one online run."""

    index: IndexServer
    url: str
    state: Path
    env: dict[str, str] = field(default_factory=dict)  # e.g. PIP_CERT


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
        self.profile_runs = 1 if quick else 3  # row 8: medians of each phase
        self.startup_runs = 20 if quick else 200
        self.version_runs = 3 if quick else 20
        # 30,000 entries (two files each) and 20,000 pip HTTP cache entries (two files each):
        # 100,000 files in all (issue 17, target 6).
        self.store_entries = 3_000 if quick else 30_000
        self.http_cache_entries = 2_000 if quick else 20_000


class Bench:
    """One benchmark run: its plan, work directory, venvs, servers, warm states and results.

    The set-up (benchmarks/prepare.py) fills in the servers and states; each section
    (benchmarks/sections/) measures with them and adds its results.
    """

    # Set by benchmarks.prepare.set_up() before any section runs.
    template: Path
    tool_wheels: ToolWheels
    dist_dir: Path
    wheelhouse: Path
    idx_pypi: IndexServer
    idx_none: IndexServer
    pypi_env: dict[str, str]
    warm_pypi: Path
    warm_none: Path
    warm_wheelhouse: Path
    synthetic: Workload
    ca: Any  # the https indexes' certificate authority (None: no https index)
    # (workload name, index kind) -> what the outages of section 2 take away (its warm state).
    targets: dict[tuple[str, str], Target]
    # workload name -> the warm state of its ``pip install --no-index --find-links``
    wheelhouse_states: dict[str, Path]
    # The real workload, or None with the reason (benchmarks/realworld.py).
    real: Workload | None = None
    real_skipped: str | None = None
    # Set by benchmarks.sections.scale.make_states() when row 5 runs.
    small_state: Path
    big_state: Path
    scale_files: dict[str, Any]
    scale_fs: str

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
        self._bare: Path | None = None
        self.stack = contextlib.ExitStack()
        self.resolver: NxdomainResolver | None = None
        self.dns_skipped: str | None = None
        self.background: dict[str, list[Sample]] = {}
        self._background_threads: list[threading.Thread] = []
        self._background_errors: list[BaseException] = []

    # -- small helpers -----------------------------------------------------------------------

    def log(self, message: str) -> None:
        elapsed = time.monotonic() - self.t0
        sys.stderr.write(f"[{elapsed:6.1f}s] {message}\n")
        sys.stderr.flush()

    def fresh(self, what: str) -> Path:
        return self.work / f"{what}-{next(self._numbers):04d}"

    def fresh_venv(self) -> Venv:
        if self._pool:
            return Venv(self._pool.pop(0))
        return clone_venv(self.template, self.fresh("venv"))

    def bare_venv(self) -> Venv:
        """A fresh venv with neither pip nor pip-ff (``venv --without-pip``, made once, copied)."""
        if self._bare is None:
            self._bare = self.fresh("bare-template")
            made = subprocess.run(
                [sys.executable, "-m", "venv", "--without-pip", str(self._bare)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if made.returncode != 0:
                raise BenchmarkError(f"venv --without-pip failed:\n{made.stderr[-2000:]}")
        return clone_venv(self._bare, self.fresh("venv"))

    def _fill_pool(self, until: Callable[[], bool], limit: int) -> None:
        """Clone venvs ahead of time while the set-up waits anyway (the clones are identical)."""
        while len(self._pool) < limit and not until():
            self._pool.append(clone_venv(self.template, self.fresh("venv")).path)

    def cache_from(self, state: Path | None) -> Path:
        """A private copy of a pip cache directory (an empty one for None)."""
        path = self.fresh("cache")
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
    def installed(venv: Venv, load: Workload) -> dict[str, str]:
        """The workload's distributions in the venv (from the .dist-info names: no subprocess)."""
        found = {}
        for entry in venv.site_packages.glob("*.dist-info"):
            name, _, version = entry.name[: -len(".dist-info")].partition("-")
            name = re.sub(r"[-_.]+", "-", name).lower()
            if name in load.expected or any(name.startswith(p) for p in load.owns):
                found[name] = version
        return found

    def check_install(self, sample: Sample, venv: Venv, load: Workload | None = None) -> Sample:
        load = load or self.synthetic
        if sample.returncode != 0:
            raise BenchmarkError(f"{sample.label} failed:\n{sample.output[-4000:]}")
        got = self.installed(venv, load)
        if got != dict(load.expected):
            raise BenchmarkError(
                f"{sample.label} installed {got}, expected {dict(load.expected)}\n"
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
        load: Workload | None = None,
        through_python: bool = False,
    ) -> Sample:
        """One measured install into a fresh venv with a private copy of ``state``.

        ``load`` is the workload it must end with (the synthetic one by default).
        ``through_python``: the tool runs from a venv that has it, with ``--python`` naming a
        fresh venv that has neither pip nor pip-ff (what pip's ``--python`` is for)."""
        venv = self.fresh_venv()
        target = self.bare_venv() if through_python else venv
        cache_dir = cache if cache is not None else self.cache_from(state)
        env = isolated_env(cache_dir, **(env_extra or {}))
        if through_python:
            argv = wrap(self.argv(venv, tool, "--python", str(target.python), "install", *args))
        else:
            argv = wrap(self.argv(venv, tool, "install", *args))
        if before is not None:
            before()
        sample = measure(label, argv, env, timeout=INSTALL_TIMEOUT, cwd=self.cwd)
        if after is not None:
            after(sample)
        try:
            self.check_install(sample, target, load)
            if expect_fallback:
                causes = unreachable_causes(sample.output)
                if not causes:
                    raise BenchmarkError(f"{label}: pip-ff did not fall back:\n{sample.output}")
                sample.extra["causes"] = causes
        finally:
            self.discard(venv.path, target.path)
            if cache is None and not keep_cache:
                self.discard(cache_dir)
        return sample

    def warm(
        self,
        name: str,
        tool: str,
        args: list[str],
        *,
        wrap: Callable[[Sequence[str]], list[str]] = list,
        env_extra: dict[str, str] | None = None,
        load: Workload | None = None,
    ) -> Path:
        """The pip cache directory that one install leaves: a warm state to copy from."""
        state = self.work / f"state-{name}"
        state.mkdir()
        self.install(
            f"warm-up {name}",
            tool,
            None,
            args,
            wrap=wrap,
            cache=state,
            env_extra=env_extra,
            load=load,
        )
        self.log(f"warm state {name} ready ({synth.count_files(state)} files)")
        return state

    def in_background(self, kind: str, runs: int, one: Callable[[int], Sample]) -> None:
        """Start ``one(0)`` ... ``one(runs - 1)`` in threads; their samples go to
        ``background[kind]`` and their errors are raised by :meth:`join_background`."""
        samples = self.background.setdefault(kind, [])

        def run(i: int) -> None:
            try:
                samples.append(one(i))
            except BaseException as exc:  # reported by join_background
                self._background_errors.append(exc)

        for i in range(runs):
            thread = threading.Thread(target=run, args=(i,), daemon=True)
            thread.start()
            self._background_threads.append(thread)

    def join_background(self) -> None:
        if self._background_threads:
            self.log("waiting for the background run(s) of plain pip; cloning venvs meanwhile")
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
        self.stack.close()
        if self.args.keep:
            self.log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def unreachable_causes(output: str) -> list[str]:
    # "pip-ff: HOST is unreachable (...)", or "pip-ff: proxy URL is unreachable (...)"
    return re.findall(r"pip-ff: (?:proxy )?\S+ is unreachable \(([^)]*)\)", output)
