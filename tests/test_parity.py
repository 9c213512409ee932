"""Parity with pip, round 2 (issue 35): pip-ff's own words never break a script, and the offline
messages say what the record knows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed import IndexServer, Venv, clone_venv, outage
from tests.helpers import (
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
)


def test_json_output_stays_parseable_offline(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """The warning, the summary and the -v lines are pip-ff's own: stderr, never stdout."""
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "-i", index.url, "pipff-alpha==1.0", env=env).check()
    versions_json = "--json" in venv.pip("index", "versions", "--help", env=env).stdout
    with outage("refused", index):
        listed = venv.pipff("list", "--outdated", "--format", "json", "-i", index.url, env=env)
        verbose = venv.pipff(
            "list", "-v", "--outdated", "--format", "json", "-i", index.url, env=env
        )
        versions = None
        if versions_json:
            versions = venv.pipff("index", "versions", "pipff-alpha", "--json", "-i", index.url,
                                  env=env)  # fmt: skip
    assert listed.returncode == 0, listed.describe()
    rows = json.loads(listed.stdout)
    assert {"name": "pipff-alpha", "version": "1.0", "latest_version": "2.0",
            "latest_filetype": "wheel"} in rows, listed.describe()  # fmt: skip
    assert "pip-ff: index data of 1 project recorded" in listed.stderr, listed.describe()
    assert "pip-ff" not in listed.stdout
    assert verbose.returncode == 0, verbose.describe()
    assert [r["latest_version"] for r in json.loads(verbose.stdout)] == ["2.0"], verbose.describe()
    assert "pip-ff: pipff-alpha: index data recorded" in verbose.stderr  # a -v line
    if versions is not None:
        assert versions.returncode == 0, versions.describe()
        data = json.loads(versions.stdout)
        assert data["versions"] == ["2.0", "1.1", "1.0"], versions.describe()
        assert "pip-ff: index data of 1 project recorded" in versions.stderr


_WHEELHOUSE = "or put the files in a wheelhouse (--wheelhouse DIR)"


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ERROR: pip-ff: ")]


def test_offline_hint_when_pips_cache_was_off_while_online(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """--no-cache-dir (PIP_NO_CACHE_DIR in many images) recorded nothing: the offline hint says
    so, rather than asking for the online run the user did."""
    venv = clone_venv(template, tmp_path / "v")
    online = venv.pipff(
        "install", "-i", index.url, "pipff-gamma", env=dict(env, PIP_NO_CACHE_DIR="1")
    )
    online.check()
    assert "pip-ff" not in online.output  # online, pip's output only
    verbose = venv.pipff("download", "-v", "--no-deps", "-d", tmp_path / "d", "-i", index.url,
                         "--no-cache-dir", "pipff-gamma", env=env).check()  # fmt: skip
    assert "pip-ff: pip's cache is off: nothing is recorded this run\n" in verbose.stderr
    venv.pip("uninstall", "-y", "pipff-gamma", env=env).check()
    with outage("refused", index):
        result = venv.pipff("install", "-i", index.url, "pipff-gamma", env=env)
    assert result.returncode == 1, result.describe()
    host = f"http://127.0.0.1:{index.port}"
    assert _errors(result.output) == [
        f"ERROR: pip-ff: no local copy satisfies pipff-gamma (local versions: none); "
        f"unreachable: {host} (connection refused)",
        f"ERROR: pip-ff: pip-ff's record holds nothing from {host}: nothing is recorded while "
        f"pip's cache is off (--no-cache-dir or PIP_NO_CACHE_DIR); run the command once with "
        f"pip's cache on while the index is reachable, {_WHEELHOUSE}",
    ], result.describe()


def test_offline_hint_when_pips_cache_is_off_now(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "-i", index.url, "pipff-gamma", env=env).check()
    venv.pip("uninstall", "-y", "pipff-gamma", env=env).check()
    with outage("refused", index):
        result = venv.pipff("install", "--no-cache-dir", "-i", index.url, "pipff-gamma", env=env)
    assert result.returncode == 1, result.describe()
    assert _errors(result.output)[1:] == [
        "ERROR: pip-ff: pip's cache is off (--no-cache-dir or PIP_NO_CACHE_DIR), and pip-ff's "
        f"record with it: run the command with pip's cache on, {_WHEELHOUSE}",
    ], result.describe()


def test_offline_no_such_version_is_the_recorded_index_datas_answer(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """pipff-alpha==999: the recorded page lists no 999; that is pip's "no such version", not a
    missing copy."""
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "-i", index.url, "pipff-alpha==1.0", env=env).check()
    with outage("refused", index):
        result = venv.pipff("install", "-i", index.url, "pipff-alpha==999", env=env)
    assert result.returncode == 1, result.describe()
    errors = _errors(result.output)
    assert len(errors) == 1, result.describe()
    assert re.fullmatch(
        r"ERROR: pip-ff: pipff-alpha's index data, recorded \d+ seconds? ago \(pip-ff's record\), "
        r"lists no version that satisfies ==999 \(it lists 1\.0, 1\.1, 2\.0\); "
        rf"unreachable: http://127\.0\.0\.1:{index.port} \(connection refused\)",
        errors[0],
    ), result.describe()


def test_offline_page_recorded_but_no_file_local(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "-i", index.url, "pipff-alpha==1.0", env=env).check()
    other = clone_venv(template, tmp_path / "other")
    with outage("refused", index):
        result = other.pipff("install", "-i", index.url, "pipff-alpha==2.0", env=env)
    assert result.returncode == 1, result.describe()
    errors = _errors(result.output)
    assert re.fullmatch(
        r"ERROR: pip-ff: no local copy satisfies pipff-alpha==2\.0 \(local versions: 1\.0\); "
        r"its index data, recorded \d+ seconds? ago \(pip-ff's record\), lists 2\.0, and no "
        rf"file of it is local; unreachable: http://127\.0\.0\.1:{index.port} "
        r"\(connection refused\)",
        errors[0],
    ), result.describe()
    assert errors[1:] == [
        f"ERROR: pip-ff: run the command once while the index is reachable, {_WHEELHOUSE}"
    ]


def test_a_failing_index_is_one_warning_per_host(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """A 503 storm answered locally: one WARNING for the host, however many URLs failed (the
    page and the file); the summary names them all."""
    args = ["install", "-i", index.url, "--retries", "0", "pipff-gamma"]
    clone_venv(template, tmp_path / "warm").pipff(*args, env=env).check()
    index.fail_next["/simple/pipff-gamma/"] = [503] * 100
    index.fail_next["/files/pipff_gamma-1.0-py3-none-any.whl"] = [503] * 100
    venv = clone_venv(template, tmp_path / "v")
    result = venv.pipff(*args, env=env)
    assert result.returncode == 0, result.describe()
    host = f"http://127.0.0.1:{index.port}"
    page, wheel = (
        index.project_url("pipff-gamma"),
        index.file_url("pipff_gamma-1.0-py3-none-any.whl"),
    )
    warnings = [line for line in result.output.splitlines() if line.startswith("WARNING: pip-ff")]
    assert warnings == [
        f"WARNING: pip-ff: {host} fails (server answered 503 for {page}); "
        "continuing from local sources where it fails"
    ], result.describe()
    summary = [line for line in result.stderr.splitlines() if "finished from" in line]
    assert summary == [
        f"pip-ff: finished from local sources (the index failed: {page} (server answered 503), "
        f"{wheel} (server answered 503)); distributions: 1 from pip-ff's record"
    ], result.describe()


def test_pips_configuration_is_read_once(venv: Venv, env: dict[str, str], tmp_path: Path) -> None:
    """pip-ff reads pip's configuration through pip's own parsing only: at -vvv its output
    has no configuration line that plain pip's lacks."""
    args = ["download", "-vvv", "--no-deps", "--no-index", "-d", tmp_path / "d", "pipff-none"]
    plain = venv.pip(*args, env=env)
    ours = venv.pipff(*args, env=env)
    assert plain.returncode == ours.returncode == 1, ours.describe()

    def config_lines(output: str) -> list[str]:
        return [line for line in output.splitlines() if "configuration files" in line]

    assert config_lines(ours.output) == config_lines(plain.output), ours.describe()


def test_pip_cache_info_and_purge_mention_the_record(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    """The record lives in pip's cache directory, which pip's cache command never counts nor
    purges: one line on stderr says how large it is and what trims it."""
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "-i", index.url, "pipff-gamma", env=env).check()
    plain = venv.pip("cache", "info", env=env).check()
    record = cache_dir / "pip-ff"
    line = re.compile(
        rf"pip-ff: pip-ff's record, {re.escape(str(record))}, holds \d+(\.\d)? (bytes|kB|MB) "
        r"\(pip's cache command leaves it alone\); pip-ff store prune trims it"
    )
    info = venv.pipff("cache", "info", env=env).check()
    assert info.stdout == plain.stdout, info.describe()
    assert [x for x in info.stderr.splitlines() if line.fullmatch(x)], info.describe()
    purge = venv.pipff("cache", "purge", env=env).check()
    assert "pip-ff" not in purge.stdout
    assert [x for x in purge.stderr.splitlines() if line.fullmatch(x)], purge.describe()
    assert (record / "v1").is_dir()


def _python_3_8() -> str | None:
    """A real Python 3.8 (pyenv's, else one on PATH; pyenv's shims run nothing here)."""
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
        pythons = sorted(Path(root.stdout.strip()).glob("versions/3.8.*/bin/python3.8"))
        if root.returncode == 0 and pythons:
            return str(pythons[-1])
    except (OSError, subprocess.TimeoutExpired):
        pass
    found = shutil.which("python3.8")
    return found if found and "shims" not in Path(found).parts else None


def test_a_target_python_older_than_3_9_is_named(
    venv: Venv, env: dict[str, str], tmp_path: Path, index: IndexServer
) -> None:
    python38 = _python_3_8()
    if python38 is None:
        pytest.skip("no Python 3.8 here")
    target = tmp_path / "py38"
    subprocess.run([python38, "-m", "venv", "--without-pip", str(target)], check=True, timeout=120)
    result = venv.pipff(
        "--python", target / "bin" / "python", "install", "-i", index.url, "pipff-gamma", env=env
    )
    ours = [line for line in result.stderr.splitlines() if "pip-ff" in line]
    assert ours == [
        f"WARNING: pip-ff can't run under {target / 'bin' / 'python'}: its Python is 3.8, older "
        "than 3.9, which pip-ff needs; running plain pip without fallback"
    ], result.describe()  # (a pip that doesn't support 3.8 itself then says so too)


def test_offline_local_wheels_for_other_platforms_only(
    template: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """The record holds pipff-plat 1.0's wheel for Linux only; a download for Windows says that
    1.0 is local and fits another platform, in the error line and in the JSON report."""
    from testbed import build_wheel

    dist_dir = tmp_path / "dists"
    built = build_wheel(dist_dir, "pipff-plat", "1.0")
    built.rename(dist_dir / "pipff_plat-1.0-py3-none-manylinux_2_17_x86_64.whl")
    venv = clone_venv(template, tmp_path / "v")
    binary = ["--no-deps", "--only-binary", ":all:", "--python-version", "3.12"]
    with IndexServer(dist_dir) as index:
        args = ["download", "-i", index.url, *binary]
        venv.pipff(*args, "--platform", "manylinux_2_17_x86_64", "-d", tmp_path / "a",
                   "pipff-plat", env=env).check()  # fmt: skip
        report = tmp_path / "report.json"
        with outage("refused", index):
            result = venv.pipff(*args, "--platform", "win_amd64", "-d", tmp_path / "b",
                                "--fallback-report", report, "pipff-plat", env=env)  # fmt: skip
    assert result.returncode == 1, result.describe()
    assert _errors(result.output)[0] == (
        "ERROR: pip-ff: no local copy satisfies pipff-plat (local versions: 1.0 (local wheels "
        f"for other platforms only)); unreachable: http://127.0.0.1:{index.port} "
        "(connection refused)"
    ), result.describe()
    missing = json.loads(report.read_text())["missing"]
    assert missing == [
        {
            "requirement": "pipff-plat",
            "local_versions": [],
            "excluded_versions": ["1.0 (local wheels for other platforms only)"],
        }
    ], missing


def test_the_count_includes_what_build_isolation_got(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    """An offline sdist build takes its backend from the record in a child pip: the summary and
    the report count it, by source, beside the command's own distributions."""
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-sdistonly", env=env).check()
    shutil.rmtree(cache_dir / "wheels")  # no wheel built earlier: this run builds again
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff("install", "-i", index.url, "--fallback-report", report,
                            "pipff-sdistonly", env=env)  # fmt: skip
    assert result.returncode == 0, result.describe()
    summary = [line for line in result.stderr.splitlines() if "finished from" in line]
    assert summary == [
        f"pip-ff: finished from local sources (unreachable: http://127.0.0.1:{index.port} "
        "(connection refused)); distributions: 2 from pip-ff's record; build environments: "
        "1 from pip-ff's record"
    ], result.describe()
    built = json.loads(report.read_text())["build_distributions"]
    assert [(d["name"], d["version"], d["source"]) for d in built] == [
        ("pipff-tinybackend", "1.0", "pip-ff-record")
    ], built
