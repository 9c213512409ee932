"""2: each outage: pip-ff's decision, its fallback install against a wheelhouse install, and
how long plain pip takes to fail; on the synthetic workload, and (the fallback install against
the wheelhouse install) on the real one."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
import time
from typing import Any

from benchmarks import realworld
from benchmarks.bench import INSTALL_TIMEOUT, PIP, PIPFF, Bench, Target, Workload
from benchmarks.dns import DNS_HOST, RelativeFilesIndex
from benchmarks.harness import BenchmarkError, Comparison, Sample, interleave, measure
from benchmarks.outages import (
    DECISION_ONLY,
    INDEX_KIND,
    MODES,
    Outage,
    TwoHostIndex,
    hung_proxy,
    outage,
)
from testbed import (
    BlackHoleServer,
    ForwardingProxy,
    IndexServer,
    StallServer,
    TunnelProxy,
    Venv,
    clone_venv,
    isolated_env,
)

# Outages where plain pip waits out its timeouts (~100 s a run): it runs in the background
# during the set-up.
BACKGROUND = ("blackhole", "proxy-hung")
# Row 2s: a small set of the real download (requests, click, python-dateutil and what they
# need: 8 distributions today), where a fallback's fixed costs are not hidden by the work.
# Row 2p: the same set into a bare venv through --python.
SMALL_REQUIREMENTS = ("requests==2.32.3", "click", "python-dateutil")


def _loads(bench: Bench) -> list[tuple[Workload, list[str]]]:
    loads = [(bench.synthetic, list(bench.args.modes))]
    if bench.real is not None:
        loads.append((bench.real, list(bench.args.real_modes)))
    return loads


def prepare(bench: Bench) -> None:
    """The indexes and warm states the outages take away, made while every index answers."""
    bench.targets = {}
    bench.wheelhouse_states = {bench.synthetic.name: bench.warm_wheelhouse}
    for load, modes in _loads(bench):
        kinds = {INDEX_KIND[m] for m in modes if not (m == "dns" and bench.resolver is None)}
        if "https-two-hosts" in kinds and bench.ca is None:
            kinds.discard("https-two-hosts")  # reported as skipped
        for kind in sorted(kinds):
            bench.targets[(load.name, kind)] = _target(bench, load, kind)
        if load.name not in bench.wheelhouse_states:
            bench.wheelhouse_states[load.name] = bench.warm(
                f"{load.name}-wheelhouse",
                PIP,
                ["--no-index", "--find-links", str(load.wheelhouse), *load.requirements],
                load=load,
            )


def _target(bench: Bench, load: Workload, kind: str) -> Target:
    reqs = list(load.requirements)
    name = f"{load.name}-{kind}"
    if kind == "http":
        if load is bench.synthetic:
            return Target(bench.idx_none, bench.idx_none.url, bench.warm_none)
        index = bench.stack.enter_context(IndexServer(load.dist_dir, cache_headers="none"))
        state = bench.warm(name, PIPFF, ["-i", index.url, *reqs], load=load)
        return Target(index, index.url, state)
    if kind == "dns":
        assert bench.resolver is not None
        index = bench.stack.enter_context(RelativeFilesIndex(load.dist_dir, cache_headers="none"))
        url = f"http://{DNS_HOST}:{index.port}/simple/"
        with ForwardingProxy(index) as forwarding:
            args = ["-i", url, "--trusted-host", DNS_HOST, "--proxy", forwarding.url, *reqs]
            state = bench.warm(name, PIPFF, args, wrap=bench.resolver.wrap, load=load)
        return Target(index, url, state)
    if kind == "https-two-hosts":
        index = bench.stack.enter_context(
            TwoHostIndex(load.dist_dir, cache_headers="none", https=bench.ca)
        )
        assert index.ca_bundle is not None
        env = {"PIP_CERT": str(index.ca_bundle)}
        # Online, the same index through a proxy that works: what the record was made with.
        with TunnelProxy(delay=0) as tunnel:
            args = ["-i", index.url, "--proxy", tunnel.url, *reqs]
            state = bench.warm(name, PIPFF, args, env_extra=env, load=load)
            hosts = sorted({target.rsplit(":", 1)[0] for target in tunnel.connects})
        if hosts != ["127.0.0.1", "localhost"]:
            raise BenchmarkError(f"{name}: the warm-up went through the proxy to {hosts}")
        return Target(index, index.url, state, env)
    raise ValueError(kind)


def run(bench: Bench) -> None:
    out: dict[str, Any] = {}
    for mode in MODES:
        if mode in bench.args.modes:
            out[mode] = _outage(bench, bench.synthetic, mode, full=True)
    bench.results["sections"]["outages"] = out
    if bench.real is None:
        bench.results["sections"]["outages_real"] = {"skipped": bench.real_skipped}
        return
    modes = {
        m: _outage(bench, bench.real, m, full=False) for m in MODES if m in bench.args.real_modes
    }
    bench.results["sections"]["outages_real"] = {"workload": bench.real.info, "modes": modes}
    if "refused" not in bench.args.real_modes:
        return
    small = _small(bench.real)
    if small is None:
        why = "the template venv already has some of its distributions"
        bench.results["sections"]["outages_small"] = {"skipped": why}
        return
    bench.results["sections"]["outages_small"] = {
        "workload": small.info,
        "modes": {"refused": _outage(bench, small, "refused", full=False)},
    }
    # Row 2p: the same, into a fresh venv through --python, where pip-ff carries itself in.
    bench.results["sections"]["outages_python"] = {
        "workload": small.info,
        "modes": {"refused": _outage(bench, small, "refused", full=False, through_python=True)},
    }


def _small(real: Workload) -> Workload | None:
    """Row 2s's workload: part of the real one, on its indexes and warm states."""
    wanted = realworld.closure(real.dist_dir, SMALL_REQUIREMENTS)
    expected = {name: version for name, version in real.expected.items() if name in wanted}
    if len(expected) != len(wanted):
        return None  # the template venv has some of them: pip would leave those alone
    info = {**real.info, "requirements": list(SMALL_REQUIREMENTS), "distributions": len(expected)}
    return dataclasses.replace(real, requirements=SMALL_REQUIREMENTS, expected=expected, info=info)


def _outage(
    bench: Bench, load: Workload, mode: str, *, full: bool, through_python: bool = False
) -> dict[str, Any]:
    """One outage on one workload; ``full``: with the decision runs and plain pip's failures;
    ``through_python``: both installs go into a bare venv through ``--python``."""
    if mode == "dns" and bench.resolver is None:
        return {"skipped": bench.dns_skipped}
    target = bench.targets.get((load.name, INDEX_KIND[mode]))
    if target is None:
        return {"skipped": "no openssl and no trustme: no https index"}
    reqs = list(load.requirements)
    result: dict[str, Any] = {}
    how = ", through --python" if through_python else ""
    bench.log(f"2. outage: {mode} ({load.name} workload{how})")
    with outage(mode, target.index, bench.resolver) as down:
        if full or mode in DECISION_ONLY:
            decisions = [
                _decision(bench, mode, target, down, load.requirements[0])
                for _ in range(bench.plan.decision_runs)
            ]
            result["decisions"] = decisions
            bench.log(
                f"  {mode}: decision "
                + ", ".join(f"{d['first_attempt_to_decision']:.3f}s" for d in decisions)
            )
        if mode in DECISION_ONLY:
            result["decision_only"] = True
            return result
        counted = _proxy_counter(down)
        comparison = interleave(
            Comparison(mode, "wheelhouse (c)", "pip-ff fallback (a)"),
            bench.plan.outage_pairs,
            lambda i: bench.install(
                "pip --no-index --find-links",
                PIP,
                bench.wheelhouse_states[load.name],
                ["--no-index", "--find-links", str(load.wheelhouse), *reqs],
                wrap=down.wrap,
                load=load,
                through_python=through_python,
            ),
            lambda i: bench.install(
                "pip-ff fallback",
                PIPFF,
                target.state,
                ["-i", target.url, *down.args, *reqs],
                wrap=down.wrap,
                expect_fallback=True,
                env_extra=target.env,
                load=load,
                through_python=through_python,
                **counted,
            ),
            bench.log,
        )
        result["comparison"] = comparison.as_json()
        if full:
            if mode in BACKGROUND:
                failures = list(bench.background.get(mode, []))
            else:
                failures = [
                    _pip_fails(bench, mode, target, down) for _ in range(bench.plan.fail_runs)
                ]
            result["pip_fails"] = [s.as_json() for s in failures]
            bench.log(
                f"  {mode}: plain pip fails after " + ", ".join(f"{s.wall:.1f}s" for s in failures)
            )
    return result


def _proxy_counter(down: Outage) -> dict[str, Any]:
    """``before``/``after`` hooks that put the connections pip opened to the failing proxy
    (and, for one that answers, the CONNECT targets it asked for) into the sample."""
    proxy = down.proxy
    if proxy is None:
        return {}
    marks: list[tuple[int, int]] = []

    def before() -> None:
        marks.append((proxy.connections, len(getattr(proxy, "requests", ()))))

    def after(sample: Sample) -> None:
        time.sleep(0.05)  # the proxy's accept thread may still be taking the last one
        connections, requests = marks[-1]
        sample.extra["proxy_connections"] = proxy.connections - connections
        seen = getattr(proxy, "requests", None)
        if seen is not None:
            sample.extra["proxy_requests"] = [f"{m} {t}" for m, t in seen[requests:]]

    return {"before": before, "after": after}


def _pip_fails(bench: Bench, mode: str, target: Target, down: Outage) -> Sample:
    venv = bench.fresh_venv()
    cache = bench.cache_from(target.state)
    try:
        argv = down.wrap(
            bench.argv(
                venv, PIP, "install", "-i", target.url, *down.args, *bench.synthetic.requirements
            )
        )
        sample = measure(
            f"pip fails ({mode})",
            argv,
            isolated_env(cache, **target.env),
            timeout=600,
            cwd=bench.cwd,
        )
    finally:
        bench.discard(venv.path, cache)
    if sample.returncode == 0:
        raise BenchmarkError(f"plain pip succeeded during the {mode} outage?")
    return sample


def _decision(bench: Bench, mode: str, target: Target, down: Outage, first: str) -> dict[str, Any]:
    """pip-ff with ``-v --log``: from the first connection attempt to the fallback decision."""
    venv = bench.fresh_venv()
    cache = bench.cache_from(target.state)
    log = bench.fresh("pip-log").with_suffix(".txt")
    try:
        argv = down.wrap(
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
                target.url,
                *down.args,
                first,
            )
        )
        sample = measure(
            f"pip-ff decision ({mode})",
            argv,
            isolated_env(cache, **target.env),
            timeout=600,
            cwd=bench.cwd,
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


def start_plain_pip_waits(bench: Bench) -> None:
    """Plain pip in a black hole, or behind a hung proxy, with pip's defaults, takes minutes of
    waiting (six attempts of 15 s, and back-off).

    It runs in the background during the set-up (nothing else is measured then): the wait
    is timeouts, not work, and the set-up's load only stretches pip's own start-up.
    """
    for mode in BACKGROUND:
        if mode not in bench.args.modes:
            continue
        if mode == "blackhole":
            server: BlackHoleServer | StallServer = BlackHoleServer(lifetime=400)
            url, args = server.url, []
        else:
            server = hung_proxy()
            # Any https index: nothing gets past the proxy.
            url, args = bench.idx_pypi.url, ["--proxy", server.base_url]
        bench.stack.callback(server.stop)
        venv = clone_venv(bench.template, bench.fresh(f"venv-{mode}"))

        def one(
            i: int, mode: str = mode, url: str = url, args: list[str] = args, venv: Venv = venv
        ) -> Sample:
            time.sleep(4 * i)
            cache = bench.cache_from(None)
            flags = bench.plan.blackhole_fail_args
            argv = ["install", "-i", url, *args, *flags, *bench.synthetic.requirements]
            sample = measure(
                f"pip fails ({mode})",
                bench.argv(venv, PIP, *argv),
                isolated_env(cache),
                timeout=INSTALL_TIMEOUT,
                cwd=bench.cwd,
            )
            if sample.returncode == 0:
                raise BenchmarkError(f"plain pip succeeded during the {mode} outage?")
            if flags:
                sample.extra["not_pip_defaults"] = " ".join(flags)
            return sample

        bench.in_background(mode, bench.plan.blackhole_fail_runs, one)
        bench.log(
            f"{bench.plan.blackhole_fail_runs} plain-pip {mode} run(s) started in the background"
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
