"""pip-ff follows pip's ``--python`` into an interpreter that has no pip-ff (issue 14, item 1).

pip re-runs itself there with its own runner script; pip-ff hands pip a bootstrap instead, which
carries a private copy of pip-ff into that interpreter.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pip
import pytest
from pip._vendor.packaging.specifiers import SpecifierSet

from testbed import IndexServer, ToolWheels, Venv, clone_venv, outage
from tests.helpers import run_checked

_OURS = {"pip-offline-fallback", "packaging", "filelock"}
# pipff-sdistonly is built from its sdist: build isolation runs pip again, in the target.
_REQS = ("pipff-alpha", "pipff-sdistonly")


def _plain_venv(path: Path, env: dict[str, str]) -> Venv:
    """A venv with neither pip nor pip-ff: what `python -m venv --without-pip` or build makes."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)],
        env=env,
        check=True,
        capture_output=True,
    )
    return Venv(path, env)


def test_python_option_carries_pip_ff_into_a_plain_venv(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    runner = clone_venv(template, tmp_path / "runner")
    online = _plain_venv(tmp_path / "online", env)
    runner.pipff("--python", online.python, "install", "-i", index.url, *_REQS, env=env).check()
    warmed = online.installed()
    assert "pipff-alpha" in warmed
    assert not _OURS & set(warmed)  # nothing of pip-ff was installed there ...
    listed = runner.pipff("--python", online.python, "list", "--format=json", env=env).check()
    # ... and pip's own view of that environment, from inside it, shows none of it either.
    assert not _OURS & {d["name"].lower() for d in json.loads(listed.stdout)}

    # Offline, pipff-sdistonly is built again (not taken from pip's wheel cache): its build
    # dependencies come through build isolation's pip, started in the target, carried there too.
    shutil.rmtree(cache_dir / "wheels")
    with outage("refused", index):
        by_name = _plain_venv(tmp_path / "by-name", env)
        result = runner.pipff(
            "--python", by_name.python, "install", "-i", index.url, *_REQS, env=env
        )
        assert result.returncode == 0, result.output
        assert by_name.installed() == warmed
        assert result.output.count("is unreachable") == 1

        variable = _plain_venv(tmp_path / "variable", env)
        result = runner.pip(
            "--python", variable.path, "install", "-i", index.url, *_REQS,
            env=dict(env, PIPFF="1"),
        )  # fmt: skip
        assert result.returncode == 0, result.output
        assert variable.installed() == warmed

        # The control: plain pip can't do it.
        control = _plain_venv(tmp_path / "control", env)
        result = runner.pip(
            "--python", control.python, "install", "-i", index.url, "--retries", "0",
            "pipff-alpha", env=env,
        )  # fmt: skip
        assert result.returncode == 1
        assert "pipff-alpha" not in control.installed()


def test_python_option_child_reads_the_parents_options(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """pip-ff's own flags (taken out before pip sees the command line) reach the child too."""
    runner = clone_venv(template, tmp_path / "runner")
    runner.pipff("install", "-i", index.url, "pipff-gamma", env=env).check()
    target = _plain_venv(tmp_path / "target", env)
    before = index.connections
    report = tmp_path / "report.json"
    result = runner.pipff(
        "--offline", "--fallback-report", report, "--python", target.python,
        "install", "-i", index.url, "pipff-gamma", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert "pipff-gamma" in target.installed()
    assert index.connections == before
    # The child does the whole command: the report is written there.
    written = json.loads(report.read_text())
    assert [d["name"] for d in written["distributions"]] == ["pipff-gamma"]


def test_python_option_parent_only_carries(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """pip re-runs itself under --python before it makes a command: pip-ff's parent process
    carries pip-ff there and hooks nothing itself (its engine's imports cost ~0.2 s, issue 26);
    the child falls back."""
    runner = clone_venv(template, tmp_path / "runner")
    runner.pipff("install", "-i", index.url, "pipff-gamma", env=env).check()
    target = _plain_venv(tmp_path / "target", env)
    with outage("refused", index):
        # -X importtime is the parent's alone: pip starts the child without it.
        result = runner.run(
            "-X", "importtime", "-m", "pip_offline_fallback", "--python", target.python,
            "install", "-i", index.url, "--retries", "0", "pipff-gamma", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.output
    assert "pipff-gamma" in target.installed()
    assert result.stderr.count("is unreachable") == 1  # said once, by the child
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")]  # fmt: skip
    assert "pip_offline_fallback.reach" in imported  # the parent did carry pip-ff
    assert "pip_offline_fallback.engine" not in imported
    assert "pip_offline_fallback.compat.commands" not in imported  # pip's command machinery


def _older_python(version: str) -> str:
    """The ``python<version>`` interpreter (on PATH, else pyenv's own copy); skip without one."""
    candidates = [shutil.which(f"python{version}")]
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += [str(p) for p in sorted(root.glob(f"versions/{version}.*/bin/python{version}"))]
    for candidate in filter(None, candidates):
        # A pyenv shim exists for every installed version but answers only for the selected ones.
        done = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    pytest.skip(f"no python{version} here")


@pytest.mark.parametrize("version", ["3.9", "3.10"])
def test_python_option_carries_pip_ff_into_an_older_python(
    version: str,
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    env: dict[str, str],
) -> None:
    """pip-ff's test interpreter is newer than the target's (issue 23 item 2): what it carries
    there must run on the target's Python, and record there online, so that offline works."""
    python = _older_python(version)
    # pip's runner loads this pip (the template's is the test interpreter's) in the target.
    requires = importlib.metadata.metadata("pip")["Requires-Python"] or ""
    if f"{version}.0" not in SpecifierSet(requires):
        pytest.skip(f"pip {pip.__version__} itself doesn't run on Python {version} ({requires})")
    runner = clone_venv(template, tmp_path / "runner")

    def target(name: str) -> Venv:
        run_checked([python, "-m", "venv", "--without-pip", str(tmp_path / name)], env, 120)
        return Venv(tmp_path / name, env)

    online = target("online")
    result = runner.pipff("--python", online.python, "install", "-i", index.url, *_REQS, env=env)
    assert result.returncode == 0, result.describe()
    assert "WARNING" not in result.output, result.describe()  # loaded, and recording
    warmed = online.installed()
    assert "pipff-alpha" in warmed and not _OURS & set(warmed)

    shutil.rmtree(env["PIP_CACHE_DIR"] + "/wheels")  # pipff-sdistonly is built again offline
    with outage("refused", index):
        offline = target("offline")
        result = runner.pipff(
            "--python", offline.python, "install", "-i", index.url, *_REQS, env=env
        )
        assert result.returncode == 0, result.describe()
        assert result.output.count("is unreachable") == 1, result.describe()
        assert offline.installed() == warmed


def test_python_option_from_a_zipped_pip_names_the_real_cause(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], tool_wheels: ToolWheels
) -> None:
    """pip imported from a wheel (virtualenv's --download does that) still gets pip-ff; only
    --python can't be followed from there, and pip-ff says why, not "pip changed" (issue 23)."""
    runner = clone_venv(template, tmp_path / "runner")
    zipped = dict(env, PIPFF="1", PYTHONPATH=str(tool_wheels.pip_wheel))
    download = ("download", "-i", index.url, "pipff-gamma", "-d")
    result = runner.pip(*download, tmp_path / "d", env=zipped)
    assert result.returncode == 0, result.describe()
    assert "pip-ff" not in result.output  # hooked, no warning: recorded for an offline run
    with outage("refused", index):
        result = runner.pip(*download, tmp_path / "d2", env=zipped)
        assert result.returncode == 0, result.describe()
        assert "is unreachable" in result.output

    target = _plain_venv(tmp_path / "target", env)
    result = runner.pip("--python", target.python, "list", env=zipped)
    assert f"pip is imported from {tool_wheels.pip_wheel}, an archive" in result.stderr, (
        result.describe()
    )
    assert "runner for --python" not in result.output
