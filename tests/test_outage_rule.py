"""The outage rule end to end: what pip-ff falls back on, and what it leaves to pip.

- An index that answers badly (a 503 that outlives pip's retries) costs that one URL: the
  report lists it under ``failed_requests``, and no host is unreachable.
- The strict setting (``--strict-outage``, ``PIPFF_STRICT_OUTAGE=1``): only a route that can't
  be reached is an outage; a 5xx or 429 storm and a certificate that fails verification fail
  as in pip (a freeze attack gets pip's error, not the stale version).
- The connect deadline (pip_offline_fallback/deadline.py): a slow link that works is not an
  outage once pip-ff has seen it connect slowly; a timeout set machine-wide (environment,
  pip.conf) never drops the deadline, so a hung proxy costs seconds, and the warning names
  the wait.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pip_offline_fallback.deadline import FIRST_BYTE
from testbed import (
    IndexServer,
    ProjectSet,
    Result,
    SlowAcceptServer,
    StallServer,
    clone_venv,
    hold_port,
    outage,
)
from tests.helpers import (
    age_pip_cache,
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
    pipff_versions,
    record_alpha_1_then_publish_2,
)


def _last_error(result: Result) -> str:
    """pip's last ERROR line: the failure pip-ff must give too."""
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR:")]
    assert errors, result.describe()
    return errors[-1]


def test_a_persistent_503_costs_that_page_only(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """gamma's page answers 503 to every request, alpha's 200: gamma's page comes from the
    record and is listed under failed_requests; the host is not unreachable (alpha's page was
    asked, and answered). Taking the whole host down for an error left after pip's retries
    fails here."""
    args = ["-i", index.url, "--retries", "1", "pipff-alpha==1.0", "pipff-gamma"]
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", *args, env=env).check()
    index.fail_next["/simple/pipff-gamma/"] = [503] * 1000
    index.clear_log()
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    result = venv.pipff("install", *args, "--fallback-report", str(report), env=env)
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(warm)
    data = json.loads(report.read_text())
    assert data["unreachable"] == [], data
    failed = {item["url"]: item["cause"] for item in data["failed_requests"]}
    assert failed == {index.project_url("pipff-gamma"): "server answered 503"}, data
    assert index.requested("/simple/pipff-alpha/"), "alpha's page was answered by the index"
    assert "unreachable" not in result.output, result.describe()


@pytest.mark.parametrize("trigger", ["option", "variable"])
@pytest.mark.parametrize("status", [503, 429])
def test_under_the_strict_setting_a_storm_fails_as_in_pip(
    status: int,
    trigger: str,
    template: Path,
    tmp_path: Path,
    dists: ProjectSet,
    growing_index: IndexServer,
    env: dict[str, str],
) -> None:
    """alpha 1.0 recorded, 2.0 published, then alpha's page answers ``status`` to every
    request (a freeze attack): plain pip fails, and so does strict pip-ff, instead of
    installing the stale 1.0 with one warning line."""
    index = growing_index
    record_alpha_1_then_publish_2(clone_venv(template, tmp_path / "warm"), dists, index, env)
    index.fail_next["/simple/pipff-alpha/"] = [status] * 1000
    strict_env = dict(env, PIPFF_STRICT_OUTAGE="1") if trigger == "variable" else env
    strict_args = ["--strict-outage"] if trigger == "option" else []
    args = ["install", "-i", index.url, "--retries", "1", "pipff-alpha"]
    plain = clone_venv(template, tmp_path / "pip").pip(*args, env=env)
    venv = clone_venv(template, tmp_path / "v")
    result = venv.pipff(*args, *strict_args, env=strict_env)
    assert plain.returncode != 0, plain.describe()
    assert result.returncode != 0, result.describe()
    assert _last_error(plain) in result.output, result.describe()
    assert "pipff-alpha" not in pipff_versions(venv), result.describe()
    assert "local copy" not in result.output, result.describe()
    # Without the strict setting the same storm is answered from the record (the design).
    lenient = clone_venv(template, tmp_path / "lenient").pipff(*args, env=env)
    assert lenient.returncode == 0, lenient.describe()


def test_under_the_strict_setting_a_failed_certificate_fails_as_in_pip(
    template: Path, tmp_path: Path, https_index: IndexServer, env: dict[str, str]
) -> None:
    """Recorded over https with the index's CA; then the certificate no longer verifies (no
    --cert: an on-path attacker's certificate): strict pip-ff fails as pip does."""
    url = https_index.url
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "--cert", str(https_index.ca_bundle), "-i", url, "pipff-gamma", env=env)
    assert pipff_versions(warm) == {"pipff-gamma": "1.0"}
    age_pip_cache(Path(env["PIP_CACHE_DIR"]), 3600)
    args = ["install", "-i", url, "--retries", "0", "pipff-gamma"]
    plain = clone_venv(template, tmp_path / "pip").pip(*args, env=env)
    venv = clone_venv(template, tmp_path / "v")
    result = venv.pipff("--strict-outage", *args, env=env)
    assert plain.returncode != 0, plain.describe()
    assert result.returncode != 0, result.describe()
    assert _last_error(plain) in result.output, result.describe()
    assert pipff_versions(venv) == {}, result.describe()


@pytest.mark.parametrize("kind", ["refused", "blackhole"])
def test_under_the_strict_setting_a_route_that_cant_be_reached_still_falls_back(
    kind: str, template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    args = ["install", "-i", index.url, "pipff-alpha==1.0", "pipff-gamma"]
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff(*args, env=env).check()
    venv = clone_venv(template, tmp_path / "v")
    with outage(kind, index) as extra:
        result = venv.pipff(*args, *extra, env=dict(env, PIPFF_STRICT_OUTAGE="1"))
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(warm)
    assert "is unreachable" in result.output, result.describe()


# -- the connect deadline --------------------------------------------------------------------


def test_a_slow_link_that_works_is_not_an_outage(
    template: Path,
    tmp_path: Path,
    dists: ProjectSet,
    growing_index: IndexServer,
    env: dict[str, str],
) -> None:
    """The index's route connects only after ~3 s, every time (a satellite link), and did so
    in the warm run too; alpha 2.0 is published since. Plain pip installs 2.0, and so must
    pip-ff: its 2 s connect deadline used to take the slow connect for an outage and install
    the stale 1.0 from its record."""
    index = growing_index
    with SlowAcceptServer(index.port, delay=3.0) as slow:
        warm = clone_venv(template, tmp_path / "warm")
        record_alpha_1_then_publish_2(warm, dists, index, env, slow.url)
        assert slow.connect_times and min(slow.connect_times) > 2.0, slow.connect_times
        args = ["install", "-i", slow.url, "pipff-alpha"]
        plain = clone_venv(template, tmp_path / "pip")
        plain.pip(*args, env=env).check()
        venv = clone_venv(template, tmp_path / "v")
        result = venv.pipff(*args, env=env)
        times = list(slow.connect_times)
    assert min(times) > 2.0, times  # every connect really was slower than the 2 s default
    assert result.returncode == 0, result.describe()
    assert "pip-ff:" not in result.output, result.describe()  # nothing fell back
    assert pipff_versions(plain)["pipff-alpha"] == "2.0"
    assert pipff_versions(venv) == pipff_versions(plain)


def test_a_slow_link_is_learnt_from_connects_that_missed_the_deadline(
    template: Path,
    tmp_path: Path,
    dists: ProjectSet,
    growing_index: IndexServer,
    env: dict[str, str],
) -> None:
    """The record was made while the link was fast (no connect times kept); now every connect
    takes ~3 s, and alpha 2.0 is published since. The first run gives up after the 2 s
    deadline and installs the recorded 1.0, but the connect it gave up on goes on in the
    background and its time is kept: by the second run the link is online again and pip-ff
    installs 2.0, as plain pip does. (A connect that missed the deadline used to be never
    measured: pip-ff installed the stale 1.0 every time.)"""
    index = growing_index
    times_file = Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "connect-times.json"
    args = ["install", "pipff-alpha"]
    with SlowAcceptServer(index.port, delay=3.0) as slow:
        warm = clone_venv(template, tmp_path / "warm")
        record_alpha_1_then_publish_2(warm, dists, index, env, slow.url)
        times_file.unlink()  # as if recorded while the link was fast
        plain = clone_venv(template, tmp_path / "pip")
        plain.pip(*args, "-i", slow.url, env=env).check()
        first = clone_venv(template, tmp_path / "first")
        once = first.pipff(*args, "-i", slow.url, env=env)
        venv = clone_venv(template, tmp_path / "v")
        result = venv.pipff(*args, "-i", slow.url, env=env)
        times = list(slow.connect_times)
    assert min(times) > 2.0, times
    assert once.returncode == 0, once.describe()
    assert "connection timed out after" in once.output, once.describe()
    assert times_file.exists(), once.describe()
    assert result.returncode == 0, result.describe()
    assert "pip-ff:" not in result.output, result.describe()  # online again
    assert pipff_versions(plain)["pipff-alpha"] == "2.0"
    assert pipff_versions(venv) == pipff_versions(plain)


def test_pips_own_timeout_caps_a_learnt_connect_deadline(
    template: Path,
    tmp_path: Path,
    dists: ProjectSet,
    growing_index: IndexServer,
    env: dict[str, str],
) -> None:
    """pip-ff has seen the route connect in ~3 s (deadline about 9 s); now pip's own timeout is
    1 s (``PIP_DEFAULT_TIMEOUT``, which pip passes as a plain number). The learnt deadline
    never goes beyond pip's timeout: the connect is given up on after about 1 s and pip-ff
    falls back, instead of waiting the 3 s pip itself would never wait."""
    index = growing_index
    with SlowAcceptServer(index.port, delay=3.0) as slow:
        warm = clone_venv(template, tmp_path / "warm")
        record_alpha_1_then_publish_2(warm, dists, index, env, slow.url)
        venv = clone_venv(template, tmp_path / "v")
        short = dict(env, PIP_DEFAULT_TIMEOUT="1")
        result = venv.pipff("install", "-i", slow.url, "pipff-alpha", env=short)
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == {"pipff-alpha": "1.0"}, result.describe()  # from the record
    warning = re.search(r"is unreachable \(connection timed out after (\d+\.\d) s\)", result.output)
    assert warning is not None, result.describe()
    assert float(warning.group(1)) < 3.0, result.describe()  # not the learnt 9 s


@pytest.mark.parametrize("where", ["environment", "pip.conf"])
def test_a_machine_wide_timeout_never_drops_the_connect_deadline(
    where: str,
    template: Path,
    tmp_path: Path,
    https_index: IndexServer,
    env: dict[str, str],
) -> None:
    """pip's timeout set to 180 s machine-wide (a CI image's PIP_DEFAULT_TIMEOUT, pip.conf),
    behind a proxy that accepts and never answers: pip-ff falls back after its connect
    deadline (it used to wait 184-191 s), and its warning names the wait."""
    args = ["--cert", str(https_index.ca_bundle), "-i", https_index.url, "pipff-gamma"]
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", *args, env=env).check()
    age_pip_cache(Path(env["PIP_CACHE_DIR"]), 3600)
    if where == "environment":
        slow_env = dict(env, PIP_DEFAULT_TIMEOUT="180")
    else:
        config = tmp_path / "pip.conf"
        config.write_text("[global]\ntimeout = 180\n", encoding="utf-8")
        slow_env = dict(env, PIP_CONFIG_FILE=str(config))
    venv = clone_venv(template, tmp_path / "v")
    with StallServer() as proxy:
        # Far below pip's 180 s, far above the deadline: no timing assertion of our own.
        result = venv.pipff("install", *args, "--proxy", proxy.base_url, env=slow_env, timeout=120)
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(warm)
    warning = re.search(r"pip-ff: (.*) is unreachable \((.*)\); continuing", result.output)
    assert warning is not None, result.describe()
    assert warning.group(1) == f"proxy {proxy.base_url}", result.describe()
    assert re.search(r" after \d+\.\d s$", warning.group(2)), result.describe()


# -- the first-byte deadline -----------------------------------------------------------------


@pytest.mark.parametrize("silent", ["server", "proxy"])
def test_a_silent_server_costs_the_first_byte_deadline_not_pips_read_retries(
    silent: str,
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
) -> None:
    """gamma recorded from a plain-http index; now the index (or a proxy in front of it)
    accepts the connection and never says a word. pip would pay its whole read-retry policy
    (69 s at PIP_DEFAULT_TIMEOUT=10); pip-ff falls back after the first byte's deadline,
    with no read retries, and its warning names the wait."""
    args = ["install", "-i", index.url, "pipff-gamma"]
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff(*args, env=env).check()
    age_pip_cache(Path(env["PIP_CACHE_DIR"]), 3600)
    slow_env = dict(env, PIP_DEFAULT_TIMEOUT="10")
    venv = clone_venv(template, tmp_path / "v")
    report = ["--fallback-report", str(tmp_path / "report.json")]
    if silent == "server":
        index.stop()
        with hold_port(index.port, accept=True) as held:
            result = venv.pipff(*args, *report, env=slow_env, timeout=150)
            connections = len(held)
        route = index.base_url
    else:
        with StallServer() as proxy:
            result = venv.pipff(
                *args, *report, "--proxy", proxy.base_url, env=slow_env, timeout=150
            )
            connections = proxy.connections
        route = f"proxy {proxy.base_url}"
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(warm)
    assert result.elapsed < 30, result.describe()  # pip's read retries: 69 s
    assert connections == 1, result.describe()  # no read retries
    warning = re.search(r"pip-ff: (.*) is unreachable \((.*)\); continuing", result.output)
    assert warning is not None, result.describe()
    assert warning.group(1) == route, result.describe()
    assert re.fullmatch(r"read timed out after \d+\.\d s", warning.group(2)), result.describe()
    unreachable = json.loads((tmp_path / "report.json").read_text())["unreachable"]
    assert unreachable == [{"host": route, "cause": warning.group(2)}], unreachable


def test_an_index_that_always_answers_slowly_is_learnt_and_stays_online(
    template: Path,
    tmp_path: Path,
    dists: ProjectSet,
    growing_index: IndexServer,
    env: dict[str, str],
) -> None:
    """Every answer of the index takes half a second more than the first byte's default
    deadline (5 s) to start, and did so when alpha 1.0 was recorded; alpha 2.0 is published
    since. pip-ff has learnt the route's first-byte time: it stays online and installs 2.0, as
    plain pip does (and says nothing)."""
    index = growing_index
    index.delay = FIRST_BYTE + 0.5
    args = ["install", "-i", index.url, "pipff-alpha"]
    record_alpha_1_then_publish_2(clone_venv(template, tmp_path / "warm"), dists, index, env)
    plain = clone_venv(template, tmp_path / "pip")
    venv = clone_venv(template, tmp_path / "v")
    # Plain pip runs alongside pip-ff (each answer costs the delay; the two runs share no
    # state: plain pip reads no record, and gets a pip cache of its own).
    plain_env = dict(env, PIP_CACHE_DIR=str(tmp_path / "plain-pip-cache"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        plain_run = pool.submit(plain.pip, *args, env=plain_env)
        result = venv.pipff(*args, env=env)
        plain_run.result().check()
    assert result.returncode == 0, result.describe()
    assert "pip-ff:" not in result.output, result.describe()
    assert pipff_versions(plain)["pipff-alpha"] == "2.0"
    assert pipff_versions(venv) == pipff_versions(plain)


# -- what the report counts ------------------------------------------------------------------


def test_a_wheelhouse_file_pip_discards_is_not_counted(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], dists: ProjectSet
) -> None:
    """A wheelhouse file whose name lies about its version (``2.0`` holding gamma 1.0): pip
    reads it, finds its metadata inconsistent and discards it, then installs the recorded 1.0.
    The summary and the report count what was installed: not "1 from a wheelhouse"."""
    args = ["install", "-i", index.url, "pipff-gamma"]
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff(*args, env=env).check()
    wheelhouse = tmp_path / "wh"
    wheelhouse.mkdir()
    real = dists.dist_dir / "pipff_gamma-1.0-py3-none-any.whl"
    (wheelhouse / "pipff_gamma-2.0-py3-none-any.whl").write_bytes(real.read_bytes())
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            *args, "--wheelhouse", str(wheelhouse), "--fallback-report", str(report), env=env
        )
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == {"pipff-gamma": "1.0"}
    assert "2.0" in result.output, result.describe()  # pip did try the liar
    assert "from a wheelhouse" not in result.output, result.describe()
    distributions = json.loads(report.read_text())["distributions"]
    assert [(d["name"], d["version"], d["source"]) for d in distributions] == [
        ("pipff-gamma", "1.0", "pip-ff-record")
    ], distributions


# -- a fallback index that contradicts the record -------------------------------------------


@pytest.mark.parametrize("unquoted", [False, True], ids=["quoted", "unquoted"])
def test_a_mirrors_file_with_other_bytes_gives_way_to_the_recorded_copy(
    unquoted: bool,
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
    dists: ProjectSet,
) -> None:
    """alpha 1.0's wheel is recorded from the primary (sha256 X); the primary goes down and a
    live --fallback-index-url mirror lists a file of the same name with other bytes (Y). The
    same name with other bytes is a red flag: pip-ff installs the primary's recorded copy and
    says so (it used to install the mirror's bytes without a word). ``unquoted``: both the
    recorded page and the mirror's write their attribute values unquoted (valid HTML, which pip
    reads: test_unquoted_pages.py), and the clash is still seen."""
    from testbed import build_wheel

    index.unquoted_links = unquoted
    args = ["install", "-i", index.url, "pipff-alpha==1.0"]
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff(*args, env=env).check()
    recorded = dists.dist_dir / "pipff_alpha-1.0-py3-none-any.whl"
    mirror_dir = tmp_path / "mirror"
    other = build_wheel(
        mirror_dir, "pipff-alpha", "1.0", modules={"pipff_alpha/__init__.py": "MIRROR = 1\n"}
    )
    assert other.name == recorded.name and other.read_bytes() != recorded.read_bytes()
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with IndexServer(mirror_dir) as mirror, outage("refused", index):
        mirror.unquoted_links = unquoted
        result = venv.pipff(
            *args, "--fallback-index-url", mirror.url, "--fallback-report", str(report), env=env
        )
        mirror_files = mirror.requested("/files/")
    assert result.returncode == 0, result.describe()
    assert mirror_files == [], "the mirror's file was downloaded"
    (alpha,) = json.loads(report.read_text())["distributions"]
    assert alpha["source"] == "pip-ff-record", alpha
    assert alpha["sha256"] == hashlib.sha256(recorded.read_bytes()).hexdigest(), alpha
    assert re.search(
        rf"pip-ff: {re.escape(mirror.url)} lists {recorded.name} with other bytes than the copy "
        r"recorded from .*; using the recorded copy",
        result.output,
    ), result.describe()
