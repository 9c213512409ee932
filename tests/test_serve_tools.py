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
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed import IndexServer, Result, ToolWheels
from testbed.dists import build_wheel
from tests.helpers import pinned
from tests.serving import serving, stop_per_user_serve
from tests.test_tools import ToolVenv, _run, _tool_env, _tool_venv

# Third-party installers: CI runs these once, with the newest pip (.ci/run).
pytestmark = pytest.mark.tools

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


def _online_then_offline(
    install: Callable[[Path, bool], Result],
    versions: Callable[[Path], dict[str, str]],
    index: IndexServer,
    where: Path,
    expected: dict[str, str] = EXPECTED,
) -> Result:
    """What every tool here does: ``install(directory, True)`` through serve (or ``pip-ff
    run``) online, then again with the index stopped and the tool's cache cold, each giving
    ``expected`` (``versions(directory)``); the control, ``install(directory, False)``, is the
    offline install straight at the stopped index, and fails. The offline run is returned."""
    online = install(where / "online", True)
    assert online.returncode == 0, online.describe()
    assert versions(where / "online") == expected
    index.stop()
    offline = install(where / "offline", True)
    assert offline.returncode == 0, offline.describe()
    assert versions(where / "offline") == expected
    control = install(where / "control", False)
    assert control.returncode != 0, control.describe()
    return offline


def _served_or_not(
    install: Callable[[ToolVenv, dict[str, str], Path, str], Result],
    tool: ToolVenv,
    env: dict[str, str],
    served_url: str,
    index_url: str,
) -> Callable[[Path, bool], Result]:
    """``install`` as :func:`_online_then_offline` calls it: through serve, or (the control)
    straight at the index."""
    return lambda where, through: install(tool, env, where, served_url if through else index_url)


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
        _online_then_offline(
            _served_or_not(_uv_install, uv_venv, tool_env, served.url, index.url),
            lambda where: _uv_freeze(uv_venv, tool_env, where),
            index,
            tmp_path,
        )
    assert "answering from local sources" in served.stderr


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
        _online_then_offline(
            _served_or_not(_pip_install, pip_venv, tool_env, served.url, index.url),
            lambda where: _target_versions(where / "t"),
            index,
            tmp_path,
        )


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
        _online_then_offline(
            _served_or_not(_pdm_install, pdm_venv, tool_env, served.url, index.url),
            _pdm_versions,
            index,
            tmp_path,
        )
    assert importlib.util.find_spec("pipff_alpha") is None  # not into the test's venv


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
         "== os.environ['PDM_PYPI_URL'] and not os.environ['PIP_EXTRA_INDEX_URL'].strip(), "
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


# -- pip's "Looking in indexes" through pip-ff run (issue 32, "Also") ------------------------


@pytest.mark.usefixtures("run_stopped")
def test_pip_ff_run_names_serve_once_to_pip(
    pip_venv: ToolVenv, tool_wheels: ToolWheels, tmp_path: Path, index: IndexServer,
    env: dict[str, str],
) -> None:  # fmt: skip
    """pip (without pip-ff) under ``pip-ff run`` looks in serve alone, once: neither twice (the
    extra-index variable set to serve too) nor at an extra index from pip's configuration."""
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nextra-index-url = http://127.0.0.1:9/simple/\n")
    tool_env = dict(_tool_env(env, tmp_path, index, tool_wheels), PIP_CONFIG_FILE=str(config))
    result = _run(
        [*PIPFF, "run", "--", pip_venv.script("python"), "-m", "pip", "download", "--no-deps",
         "-d", str(tmp_path / "d"), "pipff-gamma"],
        tool_env,
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    looking = [line for line in result.stdout.splitlines() if "Looking in indexes" in line]
    assert len(looking) == 1, result.describe()
    assert looking[0].count("http://") == 1, looking
    assert "127.0.0.1:9/" not in looking[0]


# -- poetry, pipx and hatch through pip-ff run (issue 32, item 7) ----------------------------
# Each installs online through ``pip-ff run -- TOOL ...`` (serve in front of the test bed's
# index), then again with the index stopped and the tool's own cache cold, from pip-ff's record;
# the control is the same offline install straight at the stopped index.


def _no_active_venv(env: dict[str, str]) -> dict[str, str]:
    """tox runs the tests with VIRTUAL_ENV set: the tools would install into that venv."""
    return {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}


@pytest.fixture(scope="session")
def poetry_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    if sys.version_info < (3, 10):
        pytest.skip("poetry is pinned for Python 3.10+ only (requirements/bump.py says why)")
    return _tool_venv(tmp_path_factory, tool_wheels, "poetry", pinned("poetry"), with_pip_ff=False)


POETRY_PYPROJECT = """\
[project]
name = "serve-demo"
version = "0"
requires-python = ">=3.9"
dependencies = ["pipff-alpha", "pipff-beta[fast]"]

[tool.poetry]
package-mode = false
"""


def _poetry_install(
    poetry: ToolVenv, env: dict[str, str], where: Path, index_url: str | None
) -> Result:
    """``poetry source add`` then ``poetry install`` in a new project (no lock yet), with a cold
    poetry cache and the venv in the project. poetry reads its sources from pyproject.toml only,
    so under ``pip-ff run`` (``index_url`` None) the source is serve's URL from the run's
    ``PIP_INDEX_URL``."""
    where.mkdir(parents=True)
    (where / "pyproject.toml").write_text(POETRY_PYPROJECT)
    env = _no_active_venv(env)
    env.update(
        POETRY_CACHE_DIR=str(where / "poetry-cache"),
        POETRY_CONFIG_DIR=str(where / "poetry-config"),
        POETRY_DATA_DIR=str(where / "poetry-data"),
        POETRY_VIRTUALENVS_IN_PROJECT="true",
        POETRY_VIRTUALENVS_OPTIONS_NO_PIP="true",
        POETRY_NO_INTERACTION="1",
        POETRY_TOOL=poetry.script("poetry"),
    )
    script = (
        'set -e; "$POETRY_TOOL" source add --priority=primary serve "$1"; "$POETRY_TOOL" install'
    )
    if index_url is None:
        command = [*PIPFF, "run", "--", "sh", "-c", script.replace('"$1"', '"$PIP_INDEX_URL"')]
    else:
        command = ["sh", "-c", script, "sh", index_url]
    return _run(command, env, where)


@pytest.mark.usefixtures("run_stopped")
def test_poetry_through_pip_ff_run_online_then_offline(
    poetry_venv: ToolVenv, tool_wheels: ToolWheels, tmp_path: Path, index: IndexServer,
    env: dict[str, str],
) -> None:  # fmt: skip
    tool_env = _tool_env(env, tmp_path, index, tool_wheels)
    offline = _online_then_offline(
        lambda where, through: _poetry_install(
            poetry_venv, tool_env, where, None if through else index.url
        ),
        _pdm_versions,
        index,
        tmp_path,
    )
    assert "pip-ff: finished from local sources" in offline.stderr


@pytest.fixture(scope="session")
def pipx_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "pipx", pinned("pipx"), with_pip_ff=False)


def _publish_app(index: IndexServer) -> None:
    """pipx installs applications: ``pipff-app`` 1.0 (a console script) requires the usual."""
    build_wheel(
        index.dist_dir,
        "pipff-app",
        "1.0",
        requires=REQUIREMENTS,
        modules={
            "pipff_app/__init__.py": "def main():\n    print('pipff-app 1.0')\n",
            "pipff_app-1.0.dist-info/entry_points.txt": (
                "[console_scripts]\npipff-app = pipff_app:main\n"
            ),
        },
    )


def _pipx_install(pipx: ToolVenv, env: dict[str, str], where: Path, through_run: bool) -> Result:
    """``pipx install pipff-app`` into a new PIPX_HOME, pip's cache off (cold). The venv that
    holds pipx's pip (shared libraries, no package of the index) is the test's, made once."""
    where.mkdir(parents=True)
    env = _no_active_venv(env)
    env.update(
        PIPX_HOME=str(where / "pipx-home"),
        PIPX_BIN_DIR=str(where / "bin"),
        PIPX_MAN_DIR=str(where / "man"),
        PIPX_SHARED_LIBS=str(where.parent / "pipx-shared"),
        # The shared venv's pip stays the one ensurepip puts there: pipx would otherwise
        # upgrade it from the index, which serves only the test bed's projects.
        PIPX_DISABLE_SHARED_LIBS_AUTO_UPGRADE="1",
        PIPX_DEFAULT_PYTHON=sys.executable,
        USE_EMOJI="0",
    )
    command = [pipx.script("pipx"), "install", "--pip-args=--no-cache-dir", "pipff-app"]
    return _run([*PIPFF, "run", "--", *command] if through_run else command, env, where)


def _pipx_versions(where: Path) -> dict[str, str]:
    lib = next((where / "pipx-home" / "venvs" / "pipff-app").glob("lib/python*/site-packages"))
    return _target_versions(lib)


@pytest.mark.usefixtures("run_stopped")
def test_pipx_through_pip_ff_run_online_then_offline(
    pipx_venv: ToolVenv, tool_wheels: ToolWheels, tmp_path: Path, index: IndexServer,
    env: dict[str, str],
) -> None:  # fmt: skip
    _publish_app(index)
    tool_env = _tool_env(env, tmp_path, index, tool_wheels)
    offline = _online_then_offline(
        lambda where, through: _pipx_install(pipx_venv, tool_env, where, through),
        _pipx_versions,
        index,
        tmp_path,
        dict(EXPECTED, **{"pipff-app": "1.0"}),
    )
    app = _run([str(tmp_path / "offline" / "bin" / "pipff-app")], tool_env, tmp_path)
    assert app.stdout.strip() == "pipff-app 1.0", app.describe()
    assert "pip-ff: finished from local sources" in offline.stderr


@pytest.fixture(scope="session")
def hatch_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "hatch", pinned("hatch"), with_pip_ff=False)


HATCH_PYPROJECT = """\
[project]
name = "serve-demo"
version = "0"
requires-python = ">=3.9"

[tool.hatch.envs.default]
type = "virtual"
path = ".venv"
skip-install = true
installer = "{installer}"
dependencies = ["pipff-alpha", "pipff-beta[fast]"]

[tool.hatch.envs.default.env-vars]
PIP_NO_CACHE_DIR = "1"
UV_NO_CACHE = "1"
"""


def _hatch_create(
    hatch: ToolVenv, env: dict[str, str], where: Path, installer: str, through_run: bool
) -> Result:
    """``hatch env create`` of a new project's default env (its installer's cache off)."""
    where.mkdir(parents=True)
    (where / "pyproject.toml").write_text(HATCH_PYPROJECT.format(installer=installer))
    (where / "hatch-config.toml").write_text("")
    env = _no_active_venv(env)
    env.update(
        HATCH_DATA_DIR=str(where / "hatch-data"),
        HATCH_CACHE_DIR=str(where / "hatch-cache"),
        HATCH_CONFIG=str(where / "hatch-config.toml"),
        HATCH_PYTHON=sys.executable,
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
    )
    command = [hatch.script("hatch"), "env", "create"]
    return _run([*PIPFF, "run", "--", *command] if through_run else command, env, where)


def _pipff_versions(where: Path) -> dict[str, str]:
    """The test bed's projects in the venv ``where/.venv`` (not its pip)."""
    return {k: v for k, v in _pdm_versions(where).items() if k.startswith("pipff-")}


@pytest.mark.parametrize("installer", ["pip", "uv"])
@pytest.mark.usefixtures("run_stopped")
def test_hatch_through_pip_ff_run_online_then_offline(
    hatch_venv: ToolVenv, uv_venv: ToolVenv, tool_wheels: ToolWheels, tmp_path: Path,
    index: IndexServer, env: dict[str, str], installer: str,
) -> None:  # fmt: skip
    """hatch installs with pip (its default) or uv: both take their index from the variables
    ``pip-ff run`` sets."""
    tool_env = _tool_env(env, tmp_path, index, tool_wheels)
    if installer == "uv":  # the pinned uv, not one hatch would install from the index
        tool_env["HATCH_ENV_TYPE_VIRTUAL_UV_PATH"] = uv_venv.script("uv")
    offline = _online_then_offline(
        lambda where, through: _hatch_create(hatch_venv, tool_env, where, installer, through),
        _pipff_versions,
        index,
        tmp_path,
    )
    assert "pip-ff: finished from local sources" in offline.stderr
