"""Real installers through ``pip-ff serve`` and ``pip-ff run`` (issue 25).

uv, pip in a venv without pip-ff, and pdm, each installed from PyPI at a pinned version into a
venv of its own (tests/test_tools.py's ``_tool_venv``), install the same requirements through
serve twice: online (recorded on the way), then with the index really gone and the tool's own
cache cold, so that every answer comes from serve's local sources. Each has a control: the
same offline run pointed straight at the index must fail.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import IndexServer, Result, ToolWheels
from tests.helpers import pinned
from tests.serving import serving, stop_per_user_serve
from tests.test_tools import ToolVenv, _run, _tool_env, _tool_venv

REQUIREMENTS = ["pipff-alpha", "pipff-beta[fast]"]
EXPECTED = {"pipff-alpha": "2.0", "pipff-beta": "1.5", "pipff-gamma": "1.0"}
PIPFF = [sys.executable, "-m", "pip_offline_fallback"]


@pytest.fixture(scope="session")
def uv_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "uv", pinned("uv"), with_pip_ff=False)


@pytest.fixture(scope="session")
def pip_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    """This run's pip, without pip-ff."""
    return _tool_venv(
        tmp_path_factory, tool_wheels, "pip", [str(tool_wheels.pip_wheel)], with_pip_ff=False
    )


@pytest.fixture(scope="session")
def pdm_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "pdm", pinned("pdm"), with_pip_ff=False)


def _versions(text: str) -> dict[str, str]:
    """name -> version from ``name==version`` lines, or dist-info directory names."""
    found = {}
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", text, re.MULTILINE):
        found[name.lower().replace("_", "-")] = version
    return {k: v for k, v in found.items() if k.startswith("pipff-")}


# -- uv --------------------------------------------------------------------------------------


def _uv_install(uv: ToolVenv, env: dict[str, str], where: Path, index_url: str | None) -> Result:
    """A new venv, then ``uv pip install`` into it with a cold uv cache of its own."""
    env = dict(env, UV_CACHE_DIR=str(where / "uv-cache"), UV_NO_CONFIG="1")
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    where.mkdir(parents=True)
    _run([uv.script("uv"), "venv", "-q", "-p", sys.executable, str(where / "v")], env, where)
    index = ["--default-index", index_url] if index_url else []
    return _run(
        [uv.script("uv"), "pip", "install", "-p", str(where / "v"), *index, *REQUIREMENTS],
        env,
        where,
    )


def _uv_freeze(uv: ToolVenv, env: dict[str, str], where: Path) -> dict[str, str]:
    env = dict(env, UV_NO_CONFIG="1", UV_CACHE_DIR=str(where / "uv-cache"))
    frozen = _run([uv.script("uv"), "pip", "freeze", "-p", str(where / "v")], env, where)
    return _versions(frozen.stdout)


def test_uv_through_serve_online_then_offline(
    uv_venv: ToolVenv, tool_wheels: ToolWheels, tmp_path: Path, index: IndexServer,
    env: dict[str, str],
) -> None:  # fmt: skip
    tool_env = _tool_env(env, tmp_path, index, tool_wheels)
    with serving(tool_env) as served:
        online = _uv_install(uv_venv, tool_env, tmp_path / "online", served.url)
        assert online.returncode == 0, online
        assert _uv_freeze(uv_venv, tool_env, tmp_path / "online") == EXPECTED
        index.stop()
        offline = _uv_install(uv_venv, tool_env, tmp_path / "offline", served.url)
        assert offline.returncode == 0, offline
        assert _uv_freeze(uv_venv, tool_env, tmp_path / "offline") == EXPECTED
    assert "answering from local sources" in served.stderr
    control = _uv_install(uv_venv, tool_env, tmp_path / "control", index.url)
    assert control.returncode != 0, control


# -- pip without pip-ff ----------------------------------------------------------------------


def _pip_install(pip: ToolVenv, env: dict[str, str], where: Path, index_url: str) -> Result:
    env = dict(env, PIP_CACHE_DIR=str(where / "pip-cache"))
    where.mkdir(parents=True)
    return _run(
        [pip.script("python"), "-m", "pip", "install", "-i", index_url, "-t", str(where / "t"),
         *REQUIREMENTS],
        env,
        where,
    )  # fmt: skip


def _target_versions(target: Path) -> dict[str, str]:
    found = {}
    for info in target.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        found[name.replace("_", "-").lower()] = version
    return found


def test_pip_without_pip_ff_through_serve_online_then_offline(
    pip_venv: ToolVenv, tool_wheels: ToolWheels, tmp_path: Path, index: IndexServer,
    env: dict[str, str],
) -> None:  # fmt: skip
    tool_env = _tool_env(env, tmp_path, index, tool_wheels)
    no_pipff = _run(
        [pip_venv.script("python"), "-c", "import pip_offline_fallback"], tool_env, tmp_path
    )
    assert no_pipff.returncode != 0  # really a pip without pip-ff
    with serving(tool_env) as served:
        online = _pip_install(pip_venv, tool_env, tmp_path / "online", served.url)
        assert online.returncode == 0, online
        assert _target_versions(tmp_path / "online" / "t") == EXPECTED
        index.stop()
        offline = _pip_install(pip_venv, tool_env, tmp_path / "offline", served.url)
        assert offline.returncode == 0, offline
        assert _target_versions(tmp_path / "offline" / "t") == EXPECTED
    control = _pip_install(pip_venv, tool_env, tmp_path / "control", index.url)
    assert control.returncode != 0, control


# -- pdm -------------------------------------------------------------------------------------

PYPROJECT = """\
[project]
name = "serve-demo"
version = "0"
requires-python = ">=3.9"
dependencies = ["pipff-alpha", "pipff-beta[fast]"]

[tool.pdm]
distribution = false
"""


def _pdm_install(pdm: ToolVenv, env: dict[str, str], where: Path, index_url: str) -> Result:
    """``pdm install`` of a new project (no lock yet) with a cold pdm cache."""
    where.mkdir(parents=True)
    (where / "pyproject.toml").write_text(PYPROJECT)
    # The project's own venv (pdm uses an in-project .venv): the test interpreter is a venv
    # itself, which pdm would otherwise install into.
    venv = where / ".venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, where)
    # tox runs the tests with VIRTUAL_ENV set: pdm would install into that active venv.
    env = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
    env.update(
        PDM_IGNORE_ACTIVE_VENV="1",
        PDM_PYPI_URL=index_url,
        PDM_CACHE_DIR=str(where / "pdm-cache"),
        PDM_CHECK_UPDATE="false",
        PDM_NON_INTERACTIVE="1",
        PDM_IGNORE_SAVED_PYTHON="1",
        PDM_PYTHON=str(venv / "bin" / "python"),
        PDM_USE_UV="false",
    )
    return _run([pdm.script("pdm"), "install", "-v"], env, where)


def _pdm_versions(where: Path) -> dict[str, str]:
    lib = next((where / ".venv").glob("lib/python*/site-packages"))
    return _target_versions(lib)


def test_pdm_through_serve_online_then_offline(
    pdm_venv: ToolVenv, tool_wheels: ToolWheels, tmp_path: Path, index: IndexServer,
    env: dict[str, str],
) -> None:  # fmt: skip
    tool_env = _tool_env(env, tmp_path, index, tool_wheels)
    with serving(tool_env) as served:
        online = _pdm_install(pdm_venv, tool_env, tmp_path / "online", served.url)
        assert online.returncode == 0, online
        assert _pdm_versions(tmp_path / "online") == EXPECTED
        assert importlib.util.find_spec("pipff_alpha") is None  # not into the test's venv
        index.stop()
        offline = _pdm_install(pdm_venv, tool_env, tmp_path / "offline", served.url)
        assert offline.returncode == 0, offline
        assert _pdm_versions(tmp_path / "offline") == EXPECTED
    control = _pdm_install(pdm_venv, tool_env, tmp_path / "control", index.url)
    assert control.returncode != 0, control


# -- pip-ff run ------------------------------------------------------------------------------


@pytest.fixture
def run_stopped(env: dict[str, str]) -> Iterator[None]:
    """The per-user serve ``pip-ff run`` starts (in this test's record) is stopped after."""
    try:
        yield
    finally:
        stop_per_user_serve(env)


@pytest.mark.usefixtures("run_stopped")
def test_pip_ff_run_points_uv_and_pip_at_serve_online_then_offline(
    uv_venv: ToolVenv, pip_venv: ToolVenv, tool_wheels: ToolWheels, tmp_path: Path,
    index: IndexServer, env: dict[str, str],
) -> None:  # fmt: skip
    """``pip-ff run -- uv pip install`` and ``pip-ff run -- python -m pip install`` (a pip
    without pip-ff): the child's index variables lead to serve, online and offline; pip-ff's
    closing line on stderr; the command's exit status."""
    tool_env = _tool_env(env, tmp_path, index, tool_wheels)  # PIP_INDEX_URL: the index

    def uv_run(where: Path) -> Result:
        uv_env = dict(tool_env, UV_CACHE_DIR=str(where / "uv-cache"), UV_NO_CONFIG="1")
        where.mkdir(parents=True)
        _run(
            [uv_venv.script("uv"), "venv", "-q", "-p", sys.executable, str(where / "v")],
            uv_env,
            where,
        )
        return _run(
            [*PIPFF, "run", "--", uv_venv.script("uv"), "pip", "install", "-p", str(where / "v"),
             *REQUIREMENTS],
            uv_env,
            where,
        )  # fmt: skip

    def pip_run(where: Path) -> Result:
        # pip's own cache cold on the command line: PIP_CACHE_DIR also places serve's record.
        where.mkdir(parents=True)
        return _run(
            [*PIPFF, "run", "--", pip_venv.script("python"), "-m", "pip", "install",
             "--cache-dir", str(where / "pip-cache"), "-t", str(where / "t"), *REQUIREMENTS],
            tool_env,
            where,
        )  # fmt: skip

    online = uv_run(tmp_path / "uv-online")
    assert online.returncode == 0, online
    assert _uv_freeze(uv_venv, tool_env, tmp_path / "uv-online") == EXPECTED
    assert pip_run(tmp_path / "pip-online").returncode == 0
    index.stop()
    offline = uv_run(tmp_path / "uv-offline")
    assert offline.returncode == 0, offline
    assert _uv_freeze(uv_venv, tool_env, tmp_path / "uv-offline") == EXPECTED
    assert "pip-ff: finished from local sources (unreachable: " in offline.stderr, offline
    pip_offline = pip_run(tmp_path / "pip-offline")
    assert pip_offline.returncode == 0, pip_offline
    assert _target_versions(tmp_path / "pip-offline" / "t") == EXPECTED

    status = _run(
        [*PIPFF, "run", "--", sys.executable, "-c", "raise SystemExit(3)"], tool_env, tmp_path
    )
    assert status.returncode == 3
    seen = _run(
        [*PIPFF, "run", "--", sys.executable, "-c",
         "import os; print(os.environ['UV_DEFAULT_INDEX'] == os.environ['PIP_INDEX_URL'] "
         "== os.environ['PDM_PYPI_URL'] == os.environ['PIP_EXTRA_INDEX_URL'], "
         "'UV_INDEX' in os.environ)"],
        dict(tool_env, UV_INDEX="http://elsewhere.invalid/simple/"),
        tmp_path,
    )  # fmt: skip
    assert seen.stdout.split() == ["True", "False"], seen
    control = _run(
        [pip_venv.script("python"), "-m", "pip", "install", "-t", str(tmp_path / "c"),
         *REQUIREMENTS],
        dict(tool_env, PIP_CACHE_DIR=str(tmp_path / "control-cache")),
        tmp_path,
    )  # fmt: skip
    assert control.returncode != 0
