"""pip-ff with the tools that create environments of their own (issue 14, items 2, 4 and 5).

Each tool is installed from PyPI into a venv of its own, once per test run (the xdist workers
of one run share it), next to pip-ff's wheel (built from the working tree, see ToolWheels), as a
user would install them; a test is skipped with the reason where its tool can't be installed.
Then the tool runs for real against a loopback index: once online, then with the index gone
(``outage("refused", index)``). Every test has a control: the same offline run without
``PIPFF`` (or without pip-ff's plugin) must fail, or the passing run proves nothing.

Every run is isolated from the machine: the ``env`` fixture's pip isolation (no pip
configuration, the test's own cache, the index through ``PIP_INDEX_URL``), plus no user
configuration of the tool, and virtualenv's app data in the test run's own directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pip_offline_fallback import oslock
from testbed import IndexServer, Result, ToolWheels, outage
from testbed.dists import TINYBACKEND_NAME, metadata_text
from tests.helpers import pinned, run_checked

# Third-party installers: CI runs these once, with the newest pip (.ci/run).
pytestmark = pytest.mark.tools

INSTALL_TIMEOUT = 600.0
RUN_TIMEOUT = 300.0


def _install_env() -> dict[str, str]:
    """The test process's environment (its pip configuration reaches PyPI), minus pip-ff's."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith("PIPFF") and key not in ("PYTHONPATH", "PYTHONHOME")
    }


def _run(
    args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = RUN_TIMEOUT
) -> Result:
    start = time.monotonic()
    done = subprocess.run(
        args,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(args, done.returncode, done.stdout, done.stderr, time.monotonic() - start)


@dataclass(frozen=True)
class ToolVenv:
    """A venv holding one tool (and pip-ff next to it)."""

    path: Path
    version: str

    def script(self, name: str) -> str:
        return str(self.path / ("Scripts" if os.name == "nt" else "bin") / name)


def _run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's directory, above every worker's own
    return base


def _tool_venv(
    tmp_path_factory: pytest.TempPathFactory,
    tool_wheels: ToolWheels,
    name: str,
    requirements: list[str],
    *,
    with_pip_ff: bool = True,
) -> ToolVenv:
    """``name`` installed from PyPI into a venv of its own, once per run; skip when it can't be.

    The venv gets no pip of its own from ensurepip: the test interpreter's pip installs into it
    (``pip --python``), with pip-ff's wheel and this run's pip (the same wheels the test venvs
    are made from) when ``with_pip_ff``.
    """
    root = _run_dir(tmp_path_factory) / f"tool-{name}"
    failed, done = root / "failed.txt", root / "done.json"
    root.mkdir(exist_ok=True)
    venv = root / "venv"
    with oslock.exclusive(str(root / ".lock"), -1):  # xdist workers share the tool
        if not done.is_file() and not failed.is_file():
            env = _install_env()
            try:
                run_checked([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, 120)
                python = str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
                extra = (
                    [str(tool_wheels.project_wheel()), str(tool_wheels.pip_wheel)]
                    if with_pip_ff
                    else []
                )
                run_checked(
                    [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check",
                     "install", "--quiet", *requirements, *extra],
                    env,
                    INSTALL_TIMEOUT,
                )  # fmt: skip
                code = f"import importlib.metadata as m; print(m.version({name!r}))"
                version = run_checked([python, "-c", code], env, 60).stdout.strip()
            except RuntimeError as exc:
                failed.write_text(str(exc))
            else:
                done.write_text(json.dumps({"version": version}))
    if failed.is_file():
        pytest.skip(f"{name} could not be installed from PyPI: {failed.read_text()}")
    return ToolVenv(venv, json.loads(done.read_text())["version"])


def _tool_env(
    env: Mapping[str, str], tmp_path: Path, index: IndexServer, tool_wheels: ToolWheels
) -> dict[str, str]:
    """``env`` (pip isolated, the test's own cache) for a tool run: the index, no user config."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    # Under tox (CI runs the suite through tox) the test process has TOX_WORK_DIR, TOX_ENV_DIR
    # and the like: the tox under test would read them as its own options and recreate the
    # outer tox's envs. Likewise nox's and virtualenv's.
    inherited = {
        k: v for k, v in env.items() if not k.upper().startswith(("TOX_", "NOX_", "VIRTUALENV_"))
    }
    return {
        **inherited,
        "PIP_INDEX_URL": index.url,
        # pip's back-off on a refused index costs seconds; these tests are about the tools.
        "PIP_RETRIES": "0",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "TOX_USER_CONFIG_FILE": str(home / "no-tox.ini"),
        "VIRTUALENV_CONFIG_FILE": os.devnull,
        "VIRTUALENV_OVERRIDE_APP_DATA": str(tmp_path / "virtualenv-app-data"),
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        # The tools' envs get this run's pip (virtualenv takes its wheel from the test bed's
        # wheels, offline), not whichever pip virtualenv embeds.
        "VIRTUALENV_PIP": tool_wheels.pip_version,
        "VIRTUALENV_EXTRA_SEARCH_DIR": str(tool_wheels.path),
        "VIRTUALENV_NO_SETUPTOOLS": "1",
    }


def _write_project(root: Path, name: str, requires: list[str]) -> Path:
    """A tiny project built by the test bed's pipff-tinybackend (a wheel on the index)."""
    root.mkdir(parents=True)
    module = name.replace("-", "_")
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["{TINYBACKEND_NAME}"]\nbuild-backend = "pipff_tinybackend"\n'
    )
    (root / "PKG-INFO").write_text(metadata_text(name, "1.0", requires=requires))
    (root / module).mkdir()
    (root / module / "__init__.py").write_text('__version__ = "1.0"\n')
    return root


# -- tox ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tox_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "tox", pinned("tox"))


def _tox_logs(project: Path) -> dict[tuple[str, str], str]:
    """(env, run id) -> what tox logged of that command's output in the last run."""
    logs = {}
    for path in (project / ".tox").glob("*/log/*.log"):
        run_id = path.stem.split("-", 1)[1]  # "1-install_deps" -> "install_deps"
        logs[path.parent.parent.name, run_id] = path.read_text(errors="replace")
    return logs


TOX_INI = """\
[tox]
envlist = py

[testenv]
deps = pipff-gamma
commands = python -c "import pipff_toxproject, pipff_alpha, pipff_beta, pipff_gamma"
"""


def test_tox_recreates_envs_offline(
    tox_venv: ToolVenv,
    tool_wheels: ToolWheels,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
) -> None:
    """``tox -r`` offline after one online run: the .pkg env (build requirements), deps, the
    package's own dependencies and the package (an sdist, built through build isolation in the
    env) all come through pip-ff; the user's tox.ini names nothing of pip-ff."""
    project = _write_project(tmp_path / "project", "pipff-toxproject", ["pipff-alpha"])
    (project / "tox.ini").write_text(TOX_INI)
    tox_env = {**_tool_env(env, tmp_path, index, tool_wheels), "PIPFF": "1"}
    tox = [tox_venv.script("tox"), "-r", "-v", "-e", "py"]  # -v: tox shows pip's output

    online = _run(tox, tox_env, project)
    assert online.returncode == 0, online.describe()
    # The plugin's install step doesn't byte-compile pip-ff (most of its cost, issue 23), and
    # puts nothing but pip-ff there (it requires nothing but pip).
    records = list((project / ".tox" / "py").glob("lib/python3*/site-packages/*.dist-info/RECORD"))
    ours = [r for r in records if r.parent.name.startswith("pip_offline_fallback-")]
    assert len(ours) == 1, records
    assert ".pyc" not in ours[0].read_text()
    assert not [r for r in records if r.parent.name.startswith(("packaging-", "filelock-"))]

    with outage("refused", index):
        offline = _run(tox, tox_env, project)
        logs = _tox_logs(project)
        plugin_off = _run(
            tox, {**tox_env, "TOX_DISABLED_EXTERNAL_PLUGINS": "pip-offline-fallback"}, project
        )
        no_pipff = _run(tox, {k: v for k, v in tox_env.items() if k != "PIPFF"}, project)

    assert offline.returncode == 0, offline.describe()
    # What each install printed (tox keeps it in the env's log): pip-ff served it.
    unreachable = f"pip-ff: {index.url.removesuffix('/simple/')} is unreachable"
    for env_name, run_id in (
        (".pkg", "install_requires"),  # the build backend
        ("py", "install_deps"),  # deps
        ("py", "install_package_deps"),  # the package's own dependencies
    ):
        assert unreachable in logs[env_name, run_id], (env_name, run_id, logs, offline.stdout)
    # The package, an sdist, was built with pip's build isolation in the env: pip hides the
    # output of the child that installs the backend, but that child could only find it (the
    # index sends no caching headers, so pip's HTTP cache holds no page) through pip-ff.
    assert "Successfully installed pipff-toxproject-1.0" in logs["py", "install_package"]
    # One line per env built from local sources, with the counts by source (issue 32, item 6);
    # none online.
    assert "built from local sources" not in online.stdout + online.stderr
    told = [line for line in offline.stdout.splitlines() if "built from local sources" in line]
    assert len(told) == 2, offline.stdout
    py_line = next(line for line in told if "tox env py built" in line)
    assert f"(unreachable: {index.url.removesuffix('/simple/')} (connection refused))" in py_line
    # deps (pipff-gamma) and the package's dependencies (alpha, beta) from the record, and the
    # package (its sdist, a path); then the backend its isolated build installed, a child pip's,
    # counted apart (issue 32).
    counts = (
        "distributions: 1 from a file:// index or --find-links, 3 from pip-ff's record; "
        "build environments: 1 from pip-ff's record"
    )
    assert py_line.endswith(counts), py_line
    assert any("tox env .pkg built" in line for line in told), told
    # The controls: without the plugin (tox strips PIPFF, the envs have no pip-ff) and without
    # PIPFF, the same offline run fails.
    assert plugin_off.returncode != 0, plugin_off.describe()
    assert no_pipff.returncode != 0, no_pipff.describe()


# -- pip-tools -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pip_tools_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "pip-tools", pinned("pip-tools"))


def test_pip_compile_offline(
    pip_tools_venv: ToolVenv,
    tool_wheels: ToolWheels,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
) -> None:
    """pip-compile drives pip's resolver in its own process (no pip command runs): with pip-ff
    next to it and ``PIPFF`` set, the start-up hook hooks that pip, and offline the candidates
    whose metadata (PEP 658) was recorded online are enough to compile the same pins."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.in").write_text("pipff-alpha\npipff-beta[fast]\n")
    out = work / "requirements.txt"
    tool_env = {**_tool_env(env, tmp_path, index, tool_wheels), "PIPFF": "1"}
    compile_ = [pip_tools_venv.script("pip-compile"), "--quiet", "--strip-extras",
                "--no-header", "-o", out.name, "requirements.in"]  # fmt: skip

    online = _run(compile_, tool_env, work)
    assert online.returncode == 0, online.describe()
    pins = out.read_text()
    assert "pipff-alpha==2.0" in pins and "pipff-gamma==1.0" in pins, pins

    with outage("refused", index):
        out.unlink()  # an existing output file would be read as preferred pins
        offline = _run([c for c in compile_ if c != "--quiet"], tool_env, work)
        compiled_offline = out.read_text() if out.is_file() else ""
        out.unlink(missing_ok=True)
        no_pipff = _run(compile_, {k: v for k, v in tool_env.items() if k != "PIPFF"}, work)
        (work / "never.in").write_text("pipff-zeta\n")  # never asked for online
        never = _run([*compile_[:-1], "never.in"], tool_env, work)

    assert offline.returncode == 0, offline.describe()
    assert compiled_offline == pins
    # pip-ff's summary, as at the end of a pip command (issue 23): pip-compile runs none; and
    # under --quiet only the errors.
    assert "pip-ff: finished from local sources" in offline.stderr, offline.describe()
    # How old the index data was (a line per project only for one older than the newest).
    summary = re.search(r"pip-ff: index data of \d+ projects? recorded", offline.stderr)
    assert summary, offline.stderr
    assert never.returncode != 0, never.describe()
    assert "pip-ff: no local copy satisfies pipff-zeta" in never.stderr, never.describe()
    assert "finished from local sources" not in never.stderr
    assert "pip-ff: pipff-alpha:" not in never.stderr
    assert no_pipff.returncode != 0, no_pipff.describe()  # the control


SYNC_REQUIREMENTS = "pipff-alpha==2.0\npipff-beta==1.5\npipff-gamma==1.0\n"


def _plain_venv(path: Path, env: Mapping[str, str], *options: str) -> str:
    """A venv as ``python -m venv`` makes it (its pip from ensurepip, no pip-ff)."""
    run_checked([sys.executable, "-m", "venv", *options, str(path)], env, 120)
    return str(path / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


def _imports(python: str, env: Mapping[str, str], code: str) -> bool:
    return _run([python, "-c", code], env, Path(python).parent).returncode == 0


def test_pip_sync_offline_into_a_plain_venv(
    pip_tools_venv: ToolVenv,
    tool_wheels: ToolWheels,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
) -> None:
    """pip-sync through pip-ff's runner (``python -m pip_offline_fallback.pipsync``, pip-ff next
    to pip-tools) syncs a fresh plain venv offline after one online sync: its pip commands run
    as ``pip --python <target>``, which pip-ff follows. The target gets no pip-ff, and needs no
    pip of its own: the offline target has none, which pip-sync's own check of the target's pip
    version (pip-tools 7.7 wants 26.2.2+, more than a fresh venv's) would refuse."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_text(SYNC_REQUIREMENTS)
    tool_env = {**_tool_env(env, tmp_path, index, tool_wheels), "PIPFF": "1"}
    no_pipff = {k: v for k, v in tool_env.items() if k != "PIPFF"}
    python = str(pip_tools_venv.path / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))

    def sync(target: str, runner: list[str], sync_env: Mapping[str, str]) -> Result:
        return _run([*runner, "--python-executable", target, "requirements.txt"], sync_env, work)

    ff_sync = [python, "-m", "pip_offline_fallback.pipsync"]
    plain_sync = [pip_tools_venv.script("pip-sync")]
    names = ("online", "offline", "c1", "c2")
    targets = {name: _plain_venv(tmp_path / name, env) for name in names if name != "offline"}
    targets["offline"] = _plain_venv(tmp_path / "offline", env, "--without-pip")

    online = sync(targets["online"], ff_sync, tool_env)
    assert online.returncode == 0, online.describe()
    with outage("refused", index):
        offline = sync(targets["offline"], ff_sync, tool_env)
        plain = sync(targets["c1"], plain_sync, tool_env)  # pip-sync's own: the target's pip
        runner_no_pipff = sync(targets["c2"], ff_sync, no_pipff)

    assert offline.returncode == 0, offline.describe()
    assert f"pip-ff: {index.url.removesuffix('/simple/')} is unreachable" in offline.output
    assert _imports(targets["offline"], env, "import pipff_alpha, pipff_beta, pipff_gamma")
    # Nothing of pip-ff was installed into the target (pip-ff was carried, not installed).
    assert not _imports(targets["offline"], env, "import pip_offline_fallback")
    # The controls: plain pip-sync runs the target's pip (no pip-ff there), and the runner
    # without PIPFF runs plain pip; both fail offline.
    assert plain.returncode != 0, plain.describe()
    assert runner_no_pipff.returncode != 0, runner_no_pipff.describe()


# -- nox -------------------------------------------------------------------------------------------


NOXFILE = """\
import nox
from pip_offline_fallback.noxhelper import install_pip_ff


@nox.session
def tests(session):
    install_pip_ff(session)
    session.install("pipff-alpha")
    session.run("python", "-c", "import pipff_alpha, pipff_beta")
"""


@pytest.fixture(scope="session")
def nox_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "nox", pinned("nox"))


def test_nox_session_offline(
    nox_venv: ToolVenv,
    tool_wheels: ToolWheels,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
) -> None:
    """A nox session (its env made again on every run, nox's default) installs offline after
    one online run, with one line in the noxfile: install_pip_ff(session)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "noxfile.py").write_text(NOXFILE)
    tool_env = {**_tool_env(env, tmp_path, index, tool_wheels), "PIPFF": "1"}
    nox = [nox_venv.script("nox"), "--verbose", "--no-color"]  # --verbose: pip's output

    online = _run(nox, tool_env, work)
    assert online.returncode == 0, online.describe()
    with outage("refused", index):
        offline = _run(nox, tool_env, work)
        no_pipff = _run(nox, {k: v for k, v in tool_env.items() if k != "PIPFF"}, work)

    assert offline.returncode == 0, offline.describe()
    assert f"pip-ff: {index.url.removesuffix('/simple/')} is unreachable" in offline.output
    assert no_pipff.returncode != 0, no_pipff.describe()  # the control


# -- build -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def build_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "build", pinned("build"))


def test_build_offline(
    build_venv: ToolVenv,
    tool_wheels: ToolWheels,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
) -> None:
    """``python -m build`` (an isolated build env, the backend from the index) offline after
    one online run."""
    project = _write_project(tmp_path / "project", "pipff-buildproject", ["pipff-alpha"])
    tool_env = {**_tool_env(env, tmp_path, index, tool_wheels), "PIPFF": "1"}
    python = str(build_venv.path / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    build = [python, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), "."]

    online = _run(build, tool_env, project)
    assert online.returncode == 0, online.describe()
    with outage("refused", index):
        no_pipff = _run(build, {k: v for k, v in tool_env.items() if k != "PIPFF"}, project)
        offline = _run(build, tool_env, project)

    assert no_pipff.returncode != 0, no_pipff.describe()  # the control
    assert offline.returncode == 0, offline.describe()


# -- virtualenv --download -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def virtualenv_venv(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> ToolVenv:
    return _tool_venv(tmp_path_factory, tool_wheels, "virtualenv", pinned("virtualenv"))


def test_virtualenv_download_offline_with_fresh_app_data(
    virtualenv_venv: ToolVenv,
    tool_wheels: ToolWheels,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
) -> None:
    """``virtualenv --download`` runs ``pip download pip`` with pip imported from virtualenv's
    embedded pip wheel, a zip file (issue 23): pip-ff must hook that pip too (only ``--python``
    is out of reach there), so a fresh app-data dir gets its pip offline after one online run."""
    (index.dist_dir / tool_wheels.pip_wheel.name).symlink_to(tool_wheels.pip_wheel)
    tool_env = {**_tool_env(env, tmp_path, index, tool_wheels), "PIPFF": "1"}
    # No pinned pip and no search dir with one: --download then asks the index for the newest.
    del tool_env["VIRTUALENV_PIP"], tool_env["VIRTUALENV_EXTRA_SEARCH_DIR"]

    def create(name: str, run_env: Mapping[str, str]) -> Result:
        app_data = {"VIRTUALENV_OVERRIDE_APP_DATA": str(tmp_path / f"app-data-{name}")}
        command = [virtualenv_venv.script("virtualenv"), "--download", str(tmp_path / name)]
        return _run(command, {**run_env, **app_data}, tmp_path)

    online = create("online", tool_env)
    assert online.returncode == 0, online.describe()
    with outage("refused", index):
        offline = create("offline", tool_env)
        control = create("control", {k: v for k, v in tool_env.items() if k != "PIPFF"})

    assert offline.returncode == 0, offline.describe()
    seeded = _run(
        [str(tmp_path / "offline" / "bin" / "python"), "-m", "pip", "--version"], env, tmp_path
    )
    assert seeded.stdout.startswith(f"pip {tool_wheels.pip_version} "), seeded.describe()
    assert control.returncode != 0, control.describe()  # plain pip can't download it offline
    assert "No matching distribution found for pip" in control.output
