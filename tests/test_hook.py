"""The start-up hook behind ``PIPFF`` (issue 14, item 6): its cost at start-up, a broken install,
and the path variables it reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testbed import IndexServer, Venv, clone_venv
from tests.helpers import wheelhouse_of

_MODULES = "import sys; print(' '.join(sorted(sys.modules)))"


@pytest.mark.parametrize("value", ["1", "0", "offline"])
def test_set_variable_imports_nothing_but_ours_at_start(
    value: str, venv: Venv, env: dict[str, str]
) -> None:
    """Whatever ``PIPFF`` says, start-up imports no module beyond ours until pip is imported
    (``typing`` alone took 34 -> 62 modules)."""
    unset = set(venv.run("-c", _MODULES, env=env).check().stdout.split())
    with_variable = set(venv.run("-c", _MODULES, env=dict(env, PIPFF=value)).check().stdout.split())
    assert not unset & {"pip_offline_fallback", "pip_offline_fallback.startup"}
    extra = with_variable - unset
    assert extra <= {"pip_offline_fallback", "pip_offline_fallback.startup"}, sorted(extra)
    assert not unset - with_variable


@pytest.mark.parametrize("module", ["engine.py", "interpreter.py", "startup.py"])
def test_broken_install_warns_once_and_runs_plain_pip(
    module: str, venv: Venv, index: IndexServer, env: dict[str, str]
) -> None:
    (venv.site_packages / "pip_offline_fallback" / module).unlink()
    result = venv.pip("install", "-i", index.url, "pipff-gamma", env=dict(env, PIPFF="1"))
    assert result.returncode == 0, result.output
    assert venv.installed()["pipff-gamma"] == "1.0"
    lines = [line for line in result.output.splitlines() if "pip-ff" in line]
    assert len(lines) == 1, result.output
    assert "running plain pip" in lines[0]
    assert module[: -len(".py")] in lines[0]  # it names what is missing
    assert "Traceback" not in result.output
    # A Python that doesn't run pip says nothing about pip-ff, unless start-up itself broke.
    quiet = venv.run("-c", "pass", env=dict(env, PIPFF="1")).check()
    assert ("pip-ff" in quiet.stderr) == (module == "startup.py"), quiet.stderr


def test_path_variables_expand_home_and_variables(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], dists: Any
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    wheelhouse_of(dists.dist_dir, home / "wh", "pipff_gamma-*.whl")
    reports = tmp_path / "reports"
    reports.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    variables = dict(
        env,
        HOME=str(home),
        REPORTS=str(reports),
        PIPFF="1",
        PIPFF_STORE="~/store",
        PIPFF_WHEELHOUSE="~/wh",
        PIPFF_REPORT="$REPORTS/report.json",
    )
    online = clone_venv(template, tmp_path / "online")
    online.pip("install", "-i", index.url, "pipff-alpha", env=variables, cwd=cwd).check()
    assert (home / "store" / "v1").is_dir()
    assert json.loads((reports / "report.json").read_text())["fallback_engaged"] is False
    index.stop()
    offline = clone_venv(template, tmp_path / "offline")
    # pipff-alpha from the record in ~/store, pipff-gamma from the wheelhouse ~/wh.
    result = offline.pip(
        "install", "-i", index.url, "pipff-alpha", "pipff-gamma", env=variables, cwd=cwd
    )
    assert result.returncode == 0, result.output
    sources = {
        d["name"]: d["source"]
        for d in json.loads((reports / "report.json").read_text())["distributions"]
    }
    assert (sources["pipff-alpha"], sources["pipff-gamma"]) == ("pip-ff-record", "wheelhouse")
    assert sorted(p.name for p in cwd.iterdir()) == []  # no directory literally named ~ or $X
