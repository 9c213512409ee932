"""The fallback engine, proven with real pip: install online, take the index away, install again.

Each test installs into one fresh virtual environment while the index answers, then makes the
index really unreachable and runs the same command in a second fresh environment; the second
must end with exactly the same distributions, having said once which host was unreachable.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from testbed import (
    OUTAGES,
    ForwardingProxy,
    IndexServer,
    clone_venv,
    hold_port,
    netns_prefix,
    outage,
    unshare_available,
)
from tests.helpers import age_pip_cache, warnings_about_unreachable, wheelhouse_of

WORKLOADS = {
    "pinned": ["pipff-alpha==2.0"],
    "unpinned": ["pipff-alpha"],
    "extras": ["pipff-beta[fast]"],
    "range": ["pipff-beta>=1.0,<2"],
    "yanked-and-requires-python": ["pipff-zeta", "pipff-epsilon"],
    "sdist": ["pipff-sdistonly"],
}


def _install(venv: Any, index: IndexServer, env: dict[str, str], *args: str) -> Any:
    if index.ca_bundle is not None:
        # The variable, not --cert: pip < 26 does not pass --cert on to build isolation's pip.
        env = dict(env, PIP_CERT=str(index.ca_bundle))
    return venv.pipff("install", "--index-url", index.url, *args, env=env)


def _online_then_offline(
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
    requirements: list[str],
    kind: str = "refused",
    aged: bool = False,
) -> tuple[dict[str, str], Any, Any]:
    online_venv = clone_venv(template, tmp_path / "online")
    _install(online_venv, index, env, *requirements).check()
    online = online_venv.installed()
    if aged:  # stale pip cache entries: pip must ask the index, and meets the outage
        assert age_pip_cache(Path(env["PIP_CACHE_DIR"]), 3600) > 0
    offline_venv = clone_venv(template, tmp_path / "offline")
    with outage(kind, index) as extra:
        result = _install(offline_venv, index, env, *requirements, *extra)
    return online, offline_venv, result


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
@pytest.mark.parametrize("headers", ["none", "pypi-https"])
def test_same_install_after_index_goes_away(
    workload: str,
    headers: str,
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    https_index: IndexServer,
    env: dict[str, str],
) -> None:
    """Pins, ranges, extras, markers, yanked, Requires-Python, an sdist; both header styles."""
    server = index if headers == "none" else https_index
    online, offline_venv, result = _online_then_offline(
        template, tmp_path, server, env, WORKLOADS[workload], aged=headers != "none"
    )
    assert result.returncode == 0, result.output
    assert offline_venv.installed() == online
    assert len(warnings_about_unreachable(result.output)) == 1, result.output
    assert "continuing from local sources" in result.output
    if workload == "yanked-and-requires-python":
        assert online["pipff-zeta"] == "1.0" and online["pipff-epsilon"] == "1.0"
    if workload == "sdist":
        assert online["pipff-sdistonly"] == "1.0"


def test_require_hashes_are_still_checked(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], dists: Any
) -> None:
    wheel = next(Path(dists.dist_dir).glob("pipff_gamma-1.0-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    good = tmp_path / "good.txt"
    good.write_text(f"pipff-gamma==1.0 --hash=sha256:{digest}\n")
    bad = tmp_path / "bad.txt"
    bad.write_text(f"pipff-gamma==1.0 --hash=sha256:{'0' * 64}\n")
    online, offline_venv, result = _online_then_offline(
        template, tmp_path, index, env, ["--require-hashes", "-r", str(good)]
    )
    assert result.returncode == 0, result.output
    assert offline_venv.installed() == online
    # Hash-checking mode is not weakened by the fallback: a wrong hash still fails.
    other = clone_venv(template, tmp_path / "bad")
    refused = _install(other, index, env, "--require-hashes", "-r", str(bad))
    assert refused.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.output
    assert "pipff-gamma" not in other.installed()


@pytest.mark.parametrize("kind", OUTAGES)
def test_every_outage_mode_falls_back(
    kind: str, template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    online, offline_venv, result = _online_then_offline(
        template, tmp_path, index, env, ["pipff-alpha", "pipff-beta[fast]"], kind
    )
    assert result.returncode == 0, result.output
    assert offline_venv.installed() == online
    warnings = warnings_about_unreachable(result.output)
    assert len(warnings) == 1, result.output
    expected = {
        "refused": "connection refused",
        "stall": "timed out",
        "blackhole": "timed out",
        "proxy-502": "502",
        "proxy-503": "503",
        "proxy-504": "504",
    }[kind]
    assert expected in warnings[0]


@pytest.mark.netns
def test_unresolvable_host_falls_back(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """Online through a proxy under a name that does not resolve; offline the name fails DNS."""
    if not unshare_available():
        pytest.skip("unshare -n is not permitted here")
    url = f"http://pipff-index.invalid:{index.port}/simple/"
    online_venv = clone_venv(template, tmp_path / "online")
    with ForwardingProxy(index) as proxy:
        online_venv.pipff(
            "install", "-i", url, "--trusted-host", "pipff-index.invalid", "--proxy", proxy.url,
            "pipff-gamma", env=env,
        ).check()  # fmt: skip
    index.stop()
    offline_venv = clone_venv(template, tmp_path / "offline")
    # In a network namespace of its own the lookup fails on this machine: no DNS query leaves it.
    argv = [str(offline_venv.python), "-m", "pip_offline_fallback", "install", "-i", url]
    argv += ["--trusted-host", "pipff-index.invalid", "pipff-gamma"]
    done = subprocess.run(
        [*netns_prefix(), *argv], env=env, capture_output=True, text=True, timeout=300,
        cwd=tmp_path,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert offline_venv.installed() == online_venv.installed()
    assert any("DNS lookup failed" in w for w in warnings_about_unreachable(output)), output


@pytest.mark.netns
def test_no_network_at_all(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    if not unshare_available():
        pytest.skip("unshare -n is not permitted here")
    online_venv = clone_venv(template, tmp_path / "online")
    _install(online_venv, index, env, "pipff-alpha").check()
    offline_venv = clone_venv(template, tmp_path / "offline")
    argv = [str(offline_venv.python), "-m", "pip_offline_fallback", "install", "-i", index.url]
    result = subprocess.run(
        [*netns_prefix(), *argv, "pipff-alpha"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "network unreachable" in output
    assert offline_venv.installed() == online_venv.installed()


def test_never_seen_requirement_fails_clearly(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    online_venv = clone_venv(template, tmp_path / "online")
    _install(online_venv, index, env, "pipff-alpha==1.0").check()
    offline_venv = clone_venv(template, tmp_path / "offline")
    before = offline_venv.installed()
    with outage("refused", index):
        # pipff-gamma is local-less; pipff-alpha 2.0 was never downloaded (1.0 was).
        result = _install(offline_venv, index, env, "pipff-alpha>=2")
        missing = _install(offline_venv, index, env, "pipff-gamma")
    for r in (result, missing):
        assert r.returncode != 0
        assert "Traceback" not in r.output
    assert offline_venv.installed() == before  # nothing half-installed
    errors = [line for line in missing.output.splitlines() if line.startswith("ERROR: pip-ff")]
    assert any("pipff-gamma" in e and "local versions: none" in e for e in errors), missing.output
    assert any("connection refused" in e for e in errors), missing.output
    assert any(
        "pipff-alpha>=2" in e and "local versions: 1.0" in e for e in result.output.splitlines()
    ), result.output


def test_stale_page_offers_only_local_files(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """The recorded page lists pipff-alpha 1.0, 1.1 and 2.0, but only 1.1's file is local."""
    online_venv = clone_venv(template, tmp_path / "online")
    _install(online_venv, index, env, "pipff-alpha==1.1").check()
    offline_venv = clone_venv(template, tmp_path / "offline")
    with outage("refused", index):
        result = _install(offline_venv, index, env, "pipff-alpha")
    assert result.returncode == 0, result.output
    assert offline_venv.installed()["pipff-alpha"] == "1.1"


def test_wheelhouse_is_a_source(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], dists: Any
) -> None:
    wheelhouse = wheelhouse_of(dists.dist_dir, tmp_path / "wheelhouse", "pipff_gamma-*.whl")
    venv = clone_venv(template, tmp_path / "v")
    index.stop()
    result = venv.pipff(
        "install", "-i", index.url, "--wheelhouse", str(wheelhouse), "pipff-gamma", env=env
    )
    assert result.returncode == 0, result.output
    assert venv.installed()["pipff-gamma"] == "1.0"
    # Online, the wheelhouse changes nothing: pip's answer stays pip's.
    index.start()
    index.clear_log()
    venv2 = clone_venv(template, tmp_path / "v2")
    venv2.pipff(
        "install", "-i", index.url, "--wheelhouse", str(wheelhouse), "pipff-gamma", env=env
    ).check()
    assert any(path.startswith("/files/") for path in index.requested())


def test_a_flaky_answer_on_a_known_host_still_gets_pips_retries(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """A server that answers is up: a 503 for a page with no local copy is retried as pip
    would, even on a host pip-ff has recorded from (the connect deadline alone is shortened)."""
    warm = clone_venv(template, tmp_path / "warm")
    _install(warm, index, env, "pipff-gamma").check()  # the host is now known
    index.fail_next["/simple/pipff-epsilon/"] = [503]
    venv = clone_venv(template, tmp_path / "v")
    result = _install(venv, index, env, "pipff-epsilon")
    assert result.returncode == 0, result.output
    assert venv.installed()["pipff-epsilon"] == "1.0"
    assert index.requested("/simple/pipff-epsilon/") == ["/simple/pipff-epsilon/"] * 2
    assert not warnings_about_unreachable(result.output)


def test_shared_wheelhouse_being_published_to(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], dists: Any
) -> None:
    """The README's shared-wheelhouse recipe: the writer stages files, then renames them in.

    What is still being written (a staging subdirectory, a ``.part`` name) is never offered.
    """
    wheelhouse = wheelhouse_of(dists.dist_dir, tmp_path / "wheelhouse", "pipff_gamma-*.whl")
    complete = next(wheelhouse.iterdir())
    staging = wheelhouse / ".incoming"
    staging.mkdir()
    (staging / "pipff_zeta-1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 half a wheel")
    (wheelhouse / "pipff_beta-1.0-py3-none-any.whl.part").write_bytes(b"PK\x03\x04 half")
    wheelhouse.chmod(0o555)
    try:
        venv = clone_venv(template, tmp_path / "v")
        index.stop()
        args = ["install", "-i", index.url, "--wheelhouse", str(wheelhouse)]
        result = venv.pipff(*args, "pipff-gamma", env=env)
        assert result.returncode == 0, result.output
        assert venv.installed()["pipff-gamma"] == "1.0"
        assert complete.exists()
        for half in ("pipff-zeta", "pipff-beta"):
            missing = venv.pipff(*args, half, env=env)
            assert missing.returncode != 0
            assert f"no local copy satisfies {half}" in missing.output, missing.output
    finally:
        wheelhouse.chmod(0o755)


def test_black_hole_costs_seconds_not_minutes(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """pip alone would spend (retries + 1) x timeout per page; pip-ff one connect deadline."""
    online_venv = clone_venv(template, tmp_path / "online")
    _install(online_venv, index, env, "pipff-alpha", "pipff-beta[fast]").check()
    offline_venv = clone_venv(template, tmp_path / "offline")
    with outage("blackhole", index):
        started = time.monotonic()
        result = _install(offline_venv, index, env, "pipff-alpha", "pipff-beta[fast]")
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.output
    # A generous bound for a loaded 2-core machine; the benchmark measures the real figure.
    assert elapsed < 30, elapsed


def test_a_silent_host_costs_one_first_byte_wait_then_is_down_for_the_run(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """An extra index that only has some projects: its "not found" pages are never recorded.

    Offline, the first thing asked of it is such a page, and it accepts the connection and never
    answers. pip-ff knows the host (it recorded from it), so the answer's first byte gets a
    deadline (here the command line's --timeout) and no read retries (pip's would be six
    connections); then the host is down for the rest of the run, and nothing more is asked of
    it. A route that always answers slowly is learnt, not taken for an outage (test_outage_rule).
    """
    extra_dir = tmp_path / "extra-dists"
    extra_dir.mkdir()
    for source in index.dist_dir.iterdir():
        if source.name.startswith("pipff_gamma-"):
            (extra_dir / source.name).symlink_to(source.resolve())
    with IndexServer(extra_dir, cache_headers="none") as extra:
        indexes = ["--extra-index-url", extra.url]
        warm = clone_venv(template, tmp_path / "warm")
        _install(warm, index, env, *indexes, "pipff-gamma").check()
        online_venv = clone_venv(template, tmp_path / "online")
        _install(online_venv, index, env, *indexes, "pipff-epsilon").check()
        assert "/simple/pipff-epsilon/" in extra.requested()  # not found there
        extra.stop()
        offline_venv = clone_venv(template, tmp_path / "offline")
        with outage("refused", index), hold_port(extra.port, accept=True) as held:
            result = _install(offline_venv, index, env, *indexes, "--timeout", "2", "pipff-epsilon")
    assert result.returncode == 0, result.output
    assert offline_venv.installed() == online_venv.installed()
    assert len(held) == 1, f"{len(held)} connections to the extra index"
    assert len(warnings_about_unreachable(result.output)) == 1  # said once; the summary: both
    summary = next(line for line in result.output.splitlines() if "finished from local" in line)
    assert f":{index.port}" in summary and f":{extra.port}" in summary, summary


def test_plain_pip_is_untouched_without_the_variable(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """pip-ff installed, PIPFF unset: plain pip fails offline exactly as pip does."""
    online_venv = clone_venv(template, tmp_path / "online")
    _install(online_venv, index, env, "pipff-gamma").check()
    offline_venv = clone_venv(template, tmp_path / "offline")
    with outage("refused", index):
        result = offline_venv.pip(
            "install", "-i", index.url, "--retries", "0", "pipff-gamma", env=env
        )
    assert result.returncode != 0
    assert "pip-ff" not in result.output


@pytest.mark.parametrize("command", ["download", "wheel", "index-versions", "list-outdated"])
def test_other_commands_fall_back(
    command: str, template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    online_venv = clone_venv(template, tmp_path / "online")
    _install(online_venv, index, env, "pipff-alpha==1.1", "pipff-beta[fast]").check()
    venv = clone_venv(template, tmp_path / "v")
    out = tmp_path / "out"
    args = {
        "download": ["download", "-i", index.url, "-d", str(out), "pipff-alpha==1.1"],
        "wheel": ["wheel", "-i", index.url, "-w", str(out), "pipff-beta[fast]"],
        "index-versions": ["index", "versions", "-i", index.url, "pipff-alpha"],
        "list-outdated": ["list", "--outdated", "-i", index.url],
    }[command]
    if command == "list-outdated":
        _install(venv, index, env, "pipff-alpha==1.1").check()
    with outage("refused", index):
        result = venv.pipff(*args, env=env)
    assert result.returncode == 0, result.output
    assert len(warnings_about_unreachable(result.output)) == 1, result.output
    if command == "download":
        assert sorted(p.name for p in out.iterdir()) == ["pipff_alpha-1.1-py3-none-any.whl"]
    elif command == "wheel":
        assert sorted(p.name for p in out.iterdir()) == [
            "pipff_beta-1.5-py3-none-any.whl",
            "pipff_gamma-1.0-py3-none-any.whl",
        ]
    elif command == "index-versions":
        # What the recorded index data lists (1.1 was downloaded, 1.0 and 2.0 merely listed).
        assert "pipff-alpha (2.0)" in result.output
        assert "Available versions: 2.0, 1.1, 1.0" in result.output
    else:
        # 2.0 is listed by the recorded page: an upgrade the index offers (the summary says
        # how old that listing is), though its file is not local.
        rows = [line.split() for line in result.stdout.splitlines()]
        assert ["pipff-alpha", "1.1", "2.0", "wheel"] in rows, result.output
