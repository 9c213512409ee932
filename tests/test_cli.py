"""The ``pip-ff`` command line: pip's arguments untouched, pip-ff's own options taken out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pip_offline_fallback import __version__
from pip_offline_fallback.cli import resolve, split_args
from pip_offline_fallback.config import Mode, child_variables
from pip_offline_fallback.errors import UsageError
from testbed import IndexServer


@pytest.mark.parametrize(
    ("argv", "mode", "rest"),
    [
        (["--offline", "install", "x"], Mode.OFFLINE, ["install", "x"]),
        (["install", "x", "--prefer-offline"], Mode.PREFER_OFFLINE, ["install", "x"]),
        (["install", "--no-fallback", "-r", "r.txt"], Mode.OFF, ["install", "-r", "r.txt"]),
        (["install", "--", "--offline"], None, ["install", "--", "--offline"]),
        (["list", "--format=json"], None, ["list", "--format=json"]),
    ],
)
def test_split_args(argv: list[str], mode: Mode | None, rest: list[str]) -> None:
    options, pip_args = split_args(argv)
    assert options.mode is mode
    assert pip_args == rest


def test_value_options_both_spellings(tmp_path: Path) -> None:
    options, rest = split_args(
        ["--wheelhouse", str(tmp_path), "install", f"--wheelhouse={tmp_path}/b", "x"]
    )
    assert options.wheelhouses == [str(tmp_path), f"{tmp_path}/b"]
    assert rest == ["install", "x"]
    options, _ = split_args(["--connect-timeout", "0.5", "install"])
    assert options.connect_timeout == 0.5


@pytest.mark.parametrize(
    "argv",
    [
        ["install", "--wheelhouse"],
        ["install", "--wheelhouse="],
        ["--connect-timeout", "soon", "install"],
        ["--connect-timeout=-1", "install"],
        ["--offline=yes", "install"],
        ["--offline", "--prefer-offline", "install"],
    ],
)
def test_malformed_options(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        split_args(argv)


def test_flags_win_over_variables_and_a_mode_flag_over_the_kill_switch() -> None:
    options, _ = split_args(["--offline"])
    settings = resolve(options, {"PIPFF": "prefer-offline"})
    assert settings is not None and settings.mode is Mode.OFFLINE
    # --offline must never open a connection, PIPFF=0 or not (issue 23).
    settings = resolve(options, {"PIPFF": "0"})
    assert settings is not None and settings.mode is Mode.OFFLINE
    assert resolve(split_args([])[0], {"PIPFF": "0"}) is None  # no flag: the kill switch
    assert resolve(split_args([])[0], {}) is not None  # pip-ff defaults to auto
    assert resolve(split_args(["--no-fallback"])[0], {}) is None


def test_version_names_both_pips_line_first(venv: Any, env: dict[str, str]) -> None:
    """Scripts read pip's version from the first line: it is pip's, unchanged (issue 35)."""
    pip = venv.pip("--version", env=env).check()
    for args in (["--version"], ["-V"], ["--offline", "--version"]):
        result = venv.pipff(*args, env=env)
        assert result.returncode == 0, result.describe()
        assert result.stdout.splitlines() == [pip.stdout.rstrip("\n"), f"pip-ff {__version__}"]
        assert result.stderr == ""


def test_version_into_a_closed_pipe_is_no_traceback(venv: Any, env: dict[str, str]) -> None:
    """``pip-ff -V | head -1`` exits 0 with pip's line, as plain pip does (issue 35)."""
    pip = venv.pip("--version", env=env).check()
    piped = subprocess.run(
        ["bash", "-c", 'set -o pipefail; "$0" -m pip_offline_fallback -V | head -1', venv.python],
        env=env, capture_output=True, text=True, cwd=venv.path.parent, timeout=60,
    )  # fmt: skip
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, pip.stdout, "")


@pytest.mark.parametrize(
    "argv",
    [["install", "--wheelhouse"], ["--connect-timeout", "x", "list"], ["--offline=1", "list"]],
)
def test_malformed_option_is_one_line_and_exit_2(
    venv: Any, env: dict[str, str], argv: list[str]
) -> None:
    result = venv.pipff(*argv, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("ERROR: pip-ff: ")


def test_python_option_follows_into_an_interpreter_with_pip_ff(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    from testbed import clone_venv, outage

    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-alpha", env=env).check()
    runner = clone_venv(template, tmp_path / "runner")
    target = clone_venv(template, tmp_path / "target")
    with outage("refused", index):
        result = runner.pipff(
            "--python", str(target.path), "install", "-i", index.url, "pipff-alpha", env=env
        )
    assert result.returncode == 0, result.output
    assert target.installed() == warm.installed()
    assert "pipff-alpha" not in runner.installed()


def test_no_fallback_is_plain_pip(
    venv: Any, env: dict[str, str], index: IndexServer, tmp_path: Path
) -> None:
    index.stop()
    result = venv.pipff(
        "install", "--no-fallback", "-i", index.url, "--retries", "0", "pipff-gamma", env=env
    )
    assert result.returncode == 1
    assert "pip-ff" not in result.output


def test_ctrl_c_exits_130_without_traceback(venv: Any, env: dict[str, str]) -> None:
    from testbed.outages import StallServer

    with StallServer() as stall:
        proc = subprocess.Popen(
            [str(venv.python), "-m", "pip_offline_fallback", "install", "-i", stall.url,
             "--timeout", "60", "pipff-gamma"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=venv.path.parent,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while stall.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err


def test_the_strict_setting_from_the_option_and_the_variable() -> None:
    options, rest = split_args(["install", "--strict-outage", "x"])
    assert options.strict and rest == ["install", "x"]
    settings = resolve(options, {})
    assert settings is not None and settings.strict
    # A child pip (build isolation, --python) runs strict too.
    assert child_variables(settings)["PIPFF_STRICT_OUTAGE"] == "1"
    for value, strict in [("1", True), ("yes", True), ("0", False), ("", False), ("typo", True)]:
        settings = resolve(split_args(["install"])[0], {"PIPFF_STRICT_OUTAGE": value})
        assert settings is not None and settings.strict is strict, value
    with pytest.raises(UsageError):
        split_args(["--strict-outage=1", "install"])


def test_bare_version_imports_no_settings_machinery() -> None:
    """``pip-ff --version`` costs what ``pip --version`` costs: launch.py answers it before
    cli.py, its settings and their imports are loaded (issue 36)."""
    code = (
        "import sys\n"
        "from pip_offline_fallback.launch import main\n"
        "status = main(['--version'])\n"
        "print(status, sorted(m for m in sys.modules if m.startswith('pip_offline_fallback.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PIPFF": "0", "PIP_CONFIG_FILE": os.devnull},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith("0 "), done.stdout
    for heavy in ("cli", "config", "childenv", "stackroom"):
        assert f"'pip_offline_fallback.{heavy}'" not in last, last
