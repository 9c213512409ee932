"""A new user's first hour (issue 15) and secrets in what pip-ff prints (issue 13, item 8).

Each test drives the real pip-ff in a venv, as a user would.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from pip_offline_fallback import cli
from pip_offline_fallback.config import Mode
from testbed import IndexServer, ToolWheels, Venv, build_wheel, clone_venv, outage
from tests.helpers import run_checked, warm

PIPFF_OPTIONS = (
    "--offline",
    "--prefer-offline",
    "--no-fallback",
    "--wheelhouse",
    "--connect-timeout",
    "--fallback-index-url",
    "--fallback-report",
    "--max-stale",
    "--strict-outage",
)


def _section(stdout: str) -> str:
    """pip-ff's part of a help text: after pip's own help, never before it."""
    assert "Usage:" in stdout, stdout  # pip's help comes first
    start = stdout.index("pip-ff options")
    assert stdout.index("Usage:") < start
    return stdout[start:]


# -- issue 15 item 2: pip-ff's own options can be found ------------------------------------------


def test_help_names_exactly_the_options_the_command_line_accepts() -> None:
    named = set(re.findall(r"^\s+(--[a-z-]+)", cli.HELP, re.MULTILINE))
    assert named == set(PIPFF_OPTIONS)
    for option in named:  # each really is one of pip-ff's options: taken out of pip's arguments
        flags = ("--offline", "--prefer-offline", "--no-fallback", "--strict-outage")
        value = [] if option in flags else ["30"]
        if option == "--fallback-index-url":
            value = ["http://mirror.invalid/simple/"]
        _, rest = cli.split_args([option, *value, "list"])
        assert rest == ["list"], option


def test_help_shows_pips_help_then_pip_ffs_options(venv: Venv, env: dict[str, str]) -> None:
    for argv in (["--help"], ["-h"], ["install", "--help"], ["help", "install"], ["list", "-h"]):
        result = venv.pipff(*argv, env=env)
        assert result.returncode == 0, result.describe()
        section = _section(result.stdout)
        for option in PIPFF_OPTIONS:
            lines = [line for line in section.splitlines() if line.split()[:1] == [option]]
            assert len(lines) == 1, (argv, option, section)
        assert re.search(r"^\s+store\s", section, re.MULTILINE), section
        assert "pip-ff help store" in section


def test_help_store_is_the_store_commands_help(venv: Venv, env: dict[str, str]) -> None:
    result = venv.pipff("help", "store", env=env)
    assert result.returncode == 0, result.describe()
    assert result.stdout.startswith("usage: pip-ff store")
    assert "unknown command" not in result.output
    # Other commands pip does not know stay pip's error, without pip-ff's section.
    unknown = venv.pipff("help", "nosuchcommand", env=env)
    assert unknown.returncode != 0
    assert 'unknown command "nosuchcommand"' in unknown.output
    assert "pip-ff options" not in unknown.output


# -- issue 15 item 7: an unrecognised PIPFF value, pip-ff called explicitly ---------------------


def test_an_unrecognised_pipff_value_does_not_switch_pip_ff_off() -> None:
    options, _ = cli.split_args(["install", "x"])
    settings = cli.resolve(options, {"PIPFF": "banana"})
    assert settings is not None and settings.mode is Mode.AUTO
    assert cli.resolve(options, {"PIPFF": "off"}) is None  # the kill switch still is one


def test_unrecognised_pipff_value_warns_once_and_pip_ff_runs_in_auto_mode(
    venv: Venv, env: dict[str, str], index: IndexServer, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    result = venv.pipff(
        "install", "-i", index.url, "--fallback-report", report, "pipff-alpha",
        env=dict(env, PIPFF="banana"),
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    warnings = [line for line in result.output.splitlines() if "banana" in line]
    assert len(warnings) == 1, result.output
    assert warnings[0].startswith("WARNING: pip-ff: ignoring PIPFF='banana'")
    assert "default mode (auto)" in warnings[0]
    # pip-ff really ran, in auto mode: only an active pip-ff writes its report.
    assert json.loads(report.read_text())["mode"] == "auto"
    # Plain pip keeps its behaviour: one warning, then plain pip (no report, no record).
    plain_report = tmp_path / "plain.json"
    plain = venv.pip(
        "install", "-i", index.url, "pipff-gamma",
        env=dict(env, PIPFF="banana", PIPFF_REPORT=str(plain_report)),
    )  # fmt: skip
    assert plain.returncode == 0, plain.describe()
    assert plain.output.count("banana") == 1
    assert "running plain pip" in plain.output
    assert not plain_report.exists()


# -- issue 15 item 8: index versions offline says why ---------------------------------------------


def test_index_versions_offline_ends_with_the_no_local_copy_line(
    venv: Venv, env: dict[str, str], index: IndexServer
) -> None:
    with outage("refused", index):
        result = venv.pipff("index", "versions", "-i", index.url, "pipff-alpha", env=env)
        install = venv.pipff("install", "-i", index.url, "pipff-alpha==2.0", env=env)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    ours = [i for i, line in enumerate(lines) if line.startswith("ERROR: pip-ff: no local copy")]
    assert len(ours) == 1, result.stderr
    assert lines[ours[0]] == (
        "ERROR: pip-ff: no local copy satisfies pipff-alpha (local versions: none); "
        f"unreachable: http://127.0.0.1:{index.port} (connection refused)"
    )
    pips = [i for i, line in enumerate(lines) if "No matching distribution found" in line]
    assert pips and pips[0] < ours[0]  # pip's error first, then pip-ff's reason
    # An install still names the requirement with its specifier, once.
    assert install.returncode == 1
    assert [line for line in install.stderr.splitlines() if "no local copy" in line] == [
        "ERROR: pip-ff: no local copy satisfies pipff-alpha==2.0 (local versions: none); "
        f"unreachable: http://127.0.0.1:{index.port} (connection refused)"
    ]


# -- issue 15 item 4: pip's self version check stays out of the results -------------------------


def test_pips_self_version_check_is_not_in_the_summary_or_the_report(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    # The index lists a newer pip, as PyPI does; the self check is on, as on a normal machine.
    build_wheel(index.dist_dir, "pip", "99.0")
    checking = {k: v for k, v in env.items() if k != "PIP_DISABLE_PIP_VERSION_CHECK"}
    warm(template, tmp_path / "warm", index, checking, "pipff-alpha==1.1")
    shutil.rmtree(cache_dir / "selfcheck", ignore_errors=True)  # the check runs again offline
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-report", report, "pipff-alpha",
            env=checking,
        )  # fmt: skip
    assert result.returncode == 0, result.describe()
    summary = [line for line in result.output.splitlines() if line.startswith("pip-ff: ")]
    assert summary[0].startswith("pip-ff: finished from local sources"), result.output
    assert any(line.startswith("pip-ff: pipff-alpha: 1.1 from") for line in summary), summary
    assert not [line for line in summary if line.startswith("pip-ff: pip:")], summary
    data = json.loads(report.read_text())
    assert data["missing"] == []
    assert [d["name"] for d in data["distributions"]] == ["pipff-alpha"]


# -- issue 13 item 8: no credentials in what pip-ff prints ----------------------------------------


def test_store_check_never_shows_the_index_password(
    venv: Venv, env: dict[str, str], index: IndexServer
) -> None:
    venv.pipff("install", "-i", index.url, "pipff-alpha==2.0", env=env).check()
    secret_url = index.url.replace("://", "://someone:s3cr3t-pw@", 1)
    for extra in ([], ["--json"]):
        result = venv.pipff(
            "store", "check", "-v", *extra, "-i", secret_url, "pipff-alpha==2.0",
            "pipff-alpha==9.9", f"pipff-gamma @ {secret_url}x/pipff_gamma-1.0-py3-none-any.whl",
            env=env,
        )  # fmt: skip
        assert result.returncode == 1, result.describe()
        assert "s3cr3t-pw" not in result.output
        assert "$ pip-ff --offline install" in result.stderr  # -v still shows the command
        assert "someone:****@" in result.stderr


# -- issue 23 item 3: a fresh venv on a plane ------------------------------------------------------


def _fresh_venv(path: Path, env: dict[str, str]) -> Venv:
    """A new venv as the user makes one: ``python -m venv`` (pip from ensurepip, no pip-ff)."""
    run_checked([sys.executable, "-m", "venv", str(path)], env, 300)
    return Venv(path, env)


def test_a_fresh_venv_on_a_plane(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], tool_wheels: ToolWheels
) -> None:
    """After one online install, with the index down: a new venv gets packages through pip-ff
    (which needn't be in it), and pip-ff itself with --no-deps (its one requirement besides pip,
    waitress, is for serve alone), which then works there; serve says what it lacks."""
    runner = warm(template, tmp_path / "runner", index, env, "pipff-alpha")
    wheel = tool_wheels.project_wheel()
    assert wheel is not None
    plane = dict(env, PIP_INDEX_URL=index.url, PIP_RETRIES="0")  # the user's index, now down
    with outage("refused", index):
        # pip-ff --python: nothing of pip-ff is installed there ...
        first = _fresh_venv(tmp_path / "first", env)
        result = runner.pipff("--python", first.python, "install", "pipff-alpha", env=plane)
        assert result.returncode == 0, result.describe()
        assert "pipff-alpha" in first.installed()
        assert "pip-offline-fallback" not in first.installed()
        # ... until it installs pip-ff itself there.
        result = runner.pipff("--python", first.python, "install", "--no-deps", wheel, env=plane)
        assert result.returncode == 0, result.describe()
        assert "pip-offline-fallback" in first.installed()

        # pip-ff itself, by the new venv's own plain pip; then pip-ff works there.
        second = _fresh_venv(tmp_path / "second", env)
        result = second.pip("install", "--no-deps", wheel, env=plane)
        assert result.returncode == 0, result.describe()
        result = second.pipff("install", "pipff-alpha", env=plane)
        assert result.returncode == 0, result.describe()
        assert result.output.count("is unreachable") == 1
        serve = second.pipff("serve", env=plane)
        assert serve.returncode != 0
        assert "ERROR: pip-ff: serve needs waitress" in serve.output, serve.describe()


def test_a_newer_pip_reads_a_record_made_without_pep_658_metadata(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    """pip 23.0 records wheels but never their ``.metadata`` files; a newer pip in a new venv
    asks for those first. pip-ff answers them from the recorded wheel (issue 23, item 3)."""
    warm(template, tmp_path / "warm", index, env, "pipff-alpha")
    entries = list((cache_dir / "pip-ff" / "v1" / "entries").glob("*/*.json"))
    metadata = [p for p in entries if json.loads(p.read_text())["url"].endswith(".whl.metadata")]
    for path in metadata:
        path.unlink()  # the record as pip 23.0 would have left it
    shutil.rmtree(cache_dir / "http-v2", ignore_errors=True)
    shutil.rmtree(cache_dir / "http", ignore_errors=True)
    with outage("refused", index):
        venv = clone_venv(template, tmp_path / "venv")
        result = venv.pipff("install", "-i", index.url, "pipff-alpha", env=env)
        assert result.returncode == 0, result.describe()
        assert "pipff-alpha" in venv.installed()
