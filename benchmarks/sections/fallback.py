"""2: each outage: pip-ff's decision, its fallback install against a wheelhouse install, and
how long plain pip takes to fail."""

from __future__ import annotations

import contextlib
import datetime
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import workload
from benchmarks.bench import INSTALL_TIMEOUT, PIP, PIPFF, Bench
from benchmarks.harness import BenchmarkError, Comparison, Sample, interleave, measure
from benchmarks.outages import MODES, outage
from testbed import BlackHoleServer, clone_venv, isolated_env


def run(bench: Bench) -> None:
    reqs = list(workload.REQUIREMENTS)
    out: dict[str, Any] = {}
    for mode in MODES:
        if mode not in bench.args.modes:
            continue
        if mode == "dns" and bench.resolver is None:
            out[mode] = {"skipped": bench.dns_skipped}
            continue
        index = bench.idx_dns if mode == "dns" else bench.idx_none
        url = bench.dns_url if mode == "dns" else index.url
        state = bench.warm_dns if mode == "dns" else bench.warm_none
        bench.log(f"2. outage: {mode}")
        with outage(mode, index, bench.resolver) as down:
            decisions = [
                _decision(bench, mode, url, state, down.args, down.wrap)
                for _ in range(bench.plan.decision_runs)
            ]
            comparison = interleave(
                Comparison(mode, "wheelhouse (c)", "pip-ff fallback (a)"),
                bench.plan.outage_pairs,
                lambda i: bench.install(
                    "pip --no-index --find-links",
                    PIP,
                    bench.warm_wheelhouse,
                    ["--no-index", "--find-links", str(bench.wheelhouse), *reqs],
                    wrap=down.wrap,
                ),
                lambda i, state=state, url=url: bench.install(
                    "pip-ff fallback",
                    PIPFF,
                    state,
                    ["-i", url, *down.args, *reqs],
                    wrap=down.wrap,
                    expect_fallback=True,
                ),
                bench.log,
            )
            if mode == "blackhole":
                failures = list(bench.background)
            else:
                failures = [
                    _pip_fails(bench, mode, url, state, down.args, down.wrap)
                    for _ in range(bench.plan.fail_runs)
                ]
            bench.log(
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
    bench.results["sections"]["outages"] = out


def _pip_fails(
    bench: Bench,
    mode: str,
    url: str,
    state: Path,
    args: list[str],
    wrap: Callable[[Sequence[str]], list[str]],
) -> Sample:
    venv = bench.fresh_venv()
    cache = bench.cache_from(state)
    try:
        argv = wrap(bench.argv(venv, PIP, "install", "-i", url, *args, *workload.REQUIREMENTS))
        sample = measure(
            f"pip fails ({mode})", argv, isolated_env(cache), timeout=600, cwd=bench.cwd
        )
    finally:
        bench.discard(venv.path, cache)
    if sample.returncode == 0:
        raise BenchmarkError(f"plain pip succeeded during the {mode} outage?")
    return sample


def _decision(
    bench: Bench,
    mode: str,
    url: str,
    state: Path,
    args: list[str],
    wrap: Callable[[Sequence[str]], list[str]],
) -> dict[str, Any]:
    """pip-ff with ``-v --log``: from the first connection attempt to the fallback decision."""
    venv = bench.fresh_venv()
    cache = bench.cache_from(state)
    log = bench.fresh("pip-log").with_suffix(".txt")
    first = workload.REQUIREMENTS[0]
    try:
        argv = wrap(
            bench.argv(
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
            f"pip-ff decision ({mode})", argv, isolated_env(cache), timeout=600, cwd=bench.cwd
        )
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    finally:
        bench.discard(venv.path, cache)
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


def start_plain_pip_in_black_hole(bench: Bench) -> None:
    """Plain pip against a black hole, with pip's defaults, takes minutes of waiting.

    It runs in the background during the set-up (nothing else is measured then): the wait
    is timeouts, not work, and the set-up's load only stretches pip's own start-up.
    """
    server = BlackHoleServer(lifetime=400)
    bench.stack.callback(server.stop)
    venv = clone_venv(bench.template, bench.fresh("venv-blackhole"))
    url = server.url

    def one(i: int) -> Sample:
        time.sleep(4 * i)
        cache = bench.cache_from(None)
        flags = bench.plan.blackhole_fail_args
        args = ["install", "-i", url, *flags, *workload.REQUIREMENTS]
        sample = measure(
            "pip fails (blackhole)",
            bench.argv(venv, PIP, *args),
            isolated_env(cache),
            timeout=INSTALL_TIMEOUT,
            cwd=bench.cwd,
        )
        if sample.returncode == 0:
            raise BenchmarkError("plain pip succeeded against a black hole?")
        if flags:
            sample.extra["not_pip_defaults"] = " ".join(flags)
        return sample

    bench.in_background(bench.plan.blackhole_fail_runs, one)
    bench.log(
        f"{bench.plan.blackhole_fail_runs} plain-pip black-hole run(s) started in the background"
    )


# -- pip's log -----------------------------------------------------------------------------

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
