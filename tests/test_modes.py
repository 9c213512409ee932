"""Modes and activation: --offline, --prefer-offline, PIPFF for plain pip, the kill switch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testbed import IndexServer, build_wheel, clone_venv, outage
from tests.helpers import warm, warnings_about_unreachable


def test_plain_pip_with_the_variable_falls_back(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    warmed = warm(template, tmp_path / "warm", index, env, "pipff-alpha", "pipff-sdistonly")
    venv = clone_venv(template, tmp_path / "v")
    with outage("refused", index):
        result = venv.pip(
            "install", "-i", index.url, "pipff-alpha", "pipff-sdistonly", env=dict(env, PIPFF="1")
        )
    assert result.returncode == 0, result.output
    assert venv.installed() == warmed.installed()
    assert len(warnings_about_unreachable(result.output)) == 1


@pytest.mark.parametrize("value", ["0", "off", "false", "no"])
def test_kill_switch_turns_pip_ff_off(
    value: str, template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    warm(template, tmp_path / "warm", index, env, "pipff-gamma")
    venv = clone_venv(template, tmp_path / "v")
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--retries", "0", "pipff-gamma", env=dict(env, PIPFF=value)
        )
    assert result.returncode == 1
    assert "pip-ff" not in result.output
    assert "from versions: none" in result.output


def test_unknown_variable_value_warns_once_then_plain_pip(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    result = venv.pip("install", "-i", index.url, "pipff-gamma", env=dict(env, PIPFF="sometimes"))
    assert result.returncode == 0, result.output
    assert result.output.count("pip-ff: ignoring PIPFF='sometimes'") == 1


def test_offline_opens_no_connection(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    warmed = warm(template, tmp_path / "warm", index, env, "pipff-alpha", "pipff-beta[fast]")
    before = index.connections
    venv = clone_venv(template, tmp_path / "v")
    result = venv.pipff(
        "install", "--offline", "-i", index.url, "pipff-alpha", "pipff-beta[fast]", env=env
    )
    assert result.returncode == 0, result.output
    assert venv.installed() == warmed.installed()
    assert index.connections == before  # the index was up, and never contacted


def test_offline_names_what_is_missing(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    before = index.connections
    result = venv.pipff("install", "--offline", "-i", index.url, "pipff-gamma", env=env)
    assert result.returncode == 1
    assert (
        "ERROR: pip-ff: no local copy satisfies pipff-gamma (local versions: none); offline mode"
        in (result.output)
    )
    assert index.connections == before


def test_prefer_offline_pinned_and_local_makes_no_request(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    warm(template, tmp_path / "warm", index, env, "pipff-alpha==2.0")
    index.clear_log()
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "--prefer-offline", "-i", index.url, "pipff-alpha==2.0", env=env).check()
    assert index.requested() == []
    assert venv.installed()["pipff-alpha"] == "2.0"


def test_prefer_offline_fetches_only_what_is_missing(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    warm(template, tmp_path / "warm", index, env, "pipff-alpha==2.0")
    index.clear_log()
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff(
        "install", "--prefer-offline", "-i", index.url, "pipff-alpha==2.0", "pipff-gamma", env=env
    ).check()
    requested = index.requested()
    assert requested and all("gamma" in path for path in requested), requested


def test_prefer_offline_asks_the_index_when_local_data_cannot_satisfy(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """The recorded page knows pipff-alpha up to 2.0; the index has since released 3.0."""
    warm(template, tmp_path / "warm", index, env, "pipff-alpha==1.0")
    build_wheel(index.dist_dir, "pipff-alpha", "3.0")
    venv = clone_venv(template, tmp_path / "v")
    result = venv.pipff("install", "--prefer-offline", "-i", index.url, "pipff-alpha>=3", env=env)
    assert result.returncode == 0, result.output
    assert venv.installed()["pipff-alpha"] == "3.0"
    # ... while a requirement the local data satisfies still costs no request.
    index.clear_log()
    other = clone_venv(template, tmp_path / "other")
    other.pipff("install", "--prefer-offline", "-i", index.url, "pipff-alpha==1.0", env=env).check()
    assert index.requested() == []


def test_startup_hook_costs_nothing_when_unset(venv: Any, env: dict[str, str]) -> None:
    code = "import json, sys; print(json.dumps(sorted(sys.modules)))"
    unset = json.loads(venv.run("-c", code, env=env).check().stdout)
    assert not [m for m in unset if m.startswith(("pip", "pip_offline_fallback"))]
    assert (venv.site_packages / "pip_offline_fallback.pth").is_file()
    # Set, but pip never imported: only the small start-up module is loaded.
    setv = json.loads(venv.run("-c", code, env=dict(env, PIPFF="1")).check().stdout)
    ours = [m for m in setv if m.startswith("pip")]
    assert ours == ["pip_offline_fallback", "pip_offline_fallback.startup"]


def test_a_command_that_records_imports_no_third_party_lock(
    venv: Any, env: dict[str, str], index: IndexServer
) -> None:
    # filelock's import was about a third of pip-ff's fixed cost per command (42 of 139 million
    # instructions for `install --dry-run --no-index`, under callgrind); pip-ff's own OS lock
    # (issue 23: filelock 4.3 needs Python 3.11) costs nothing to import.
    code = (
        "import sys\n"
        "from pip_offline_fallback.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "print(sorted({'filelock', 'packaging'} & set(sys.modules)))\n"
        "sys.exit(status)\n"
    )
    # An online command records the index page, under the store lock.
    recorded = venv.run(
        "-c",
        code,
        "install",
        "--dry-run",
        "--no-deps",
        "-i",
        index.url,
        "pipff-alpha==1.0",
        env=env,
    ).check()
    assert recorded.stdout.splitlines()[-1] == "[]", recorded.output
    assert list((Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "v1" / "entries").rglob("*.json"))


def test_hook_activates_for_pip_module(venv: Any, env: dict[str, str]) -> None:
    code = (
        "import pip._internal.cli.main as m, pip._internal.commands as c, "
        "pip_offline_fallback.running as e; "
        "a = e.active_engine() is not None; c.create_command('list'); "
        "print(a, e.active_engine() is not None)"
    )
    # The CLI module alone (pip --version) gets only the light --python guard; a command hooks.
    assert venv.run("-c", code, env=dict(env, PIPFF="1")).check().stdout.strip() == "False True"
    assert venv.run("-c", code, env=env).check().stdout.strip() == "False False"


def test_uninstall_removes_the_hook(venv: Any, env: dict[str, str]) -> None:
    pth = venv.site_packages / "pip_offline_fallback.pth"
    assert pth.is_file()
    venv.pip("uninstall", "-y", "pip-offline-fallback", env=env).check()
    assert not pth.exists()
    # And plain pip still works with the variable set and pip-ff gone.
    assert venv.pip("--version", env=dict(env, PIPFF="1")).check().returncode == 0


def test_unsupported_pip_warns_once_and_runs_plain_pip(
    venv: Any, env: dict[str, str], index: IndexServer
) -> None:
    code = (
        "import sys, pip; pip.__version__ = '99.0'\n"
        "from pip_offline_fallback.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = venv.run("-c", code, "install", "-i", index.url, "pipff-gamma", env=env)
    assert result.returncode == 0, result.output
    assert result.output.count("pip-ff: pip 99.0 is outside the supported range") == 1
    assert "running plain pip" in result.output
