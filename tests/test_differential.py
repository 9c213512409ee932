"""Drop-in proof: while the index answers, pip-ff and pip give the same output, status and result.

Each command runs twice, through ``python -m pip`` and ``python -m pip_offline_fallback``, in two
fresh environments with two fresh caches; outputs are compared after replacing those paths.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pip_offline_fallback import cli
from testbed import IndexServer, clone_venv, isolated_env


def _normalise(text: str, *paths: Path) -> str:
    for path in paths:
        text = text.replace(str(path), "<DIR>")
    return text


def _pair(template: Path, tmp_path: Path) -> list[tuple[str, Any, Path, dict[str, str]]]:
    runs = []
    for tool in ("pip", "pipff"):
        root = tmp_path / tool[-1]  # same length: pip wraps its help text around these paths
        venv = clone_venv(template, root / "venv")
        cache = root / "cache"
        runs.append((tool, venv, root, isolated_env(cache)))
    return runs


def _run(tool: str, venv: Any, *args: str, env: dict[str, str], cwd: Path) -> Any:
    runner = venv.pip if tool == "pip" else venv.pipff
    return runner(*args, env=env, cwd=cwd)


COMMANDS = {
    "install-pinned": ["install", "{index}", "pipff-alpha==2.0"],
    "install-unpinned-extras": ["install", "{index}", "pipff-alpha", "pipff-beta[fast]"],
    "install-sdist": ["install", "{index}", "pipff-sdistonly"],
    "install-missing": ["install", "{index}", "pipff-does-not-exist"],
    "install-dry-run": ["install", "{index}", "--dry-run", "pipff-alpha"],
    "download": ["download", "{index}", "-d", "{root}/dl", "pipff-alpha", "pipff-sdistonly"],
    "wheel": ["wheel", "{index}", "-w", "{root}/wh", "pipff-beta[fast]"],
    "index-versions": ["index", "versions", "{index}", "pipff-alpha"],
    "list": ["list"],
    "freeze": ["freeze", "--all"],
    "show": ["show", "pip"],
    "check": ["check"],
    "help": ["help", "install"],
    "config": ["config", "list"],
    "cache-dir": ["cache", "dir"],
    "uninstall-missing": ["uninstall", "-y", "pipff-alpha"],
    "bad-option": ["install", "--no-such-option"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_same_as_pip_online(name: str, template: Path, tmp_path: Path, index: IndexServer) -> None:
    results = []
    for tool, venv, root, env in _pair(template, tmp_path):
        args = []
        for arg in COMMANDS[name]:
            if arg == "{index}":
                args += ["--index-url", index.url]
            else:
                args.append(arg.replace("{root}", str(root)))
        result = _run(tool, venv, *args, env=env, cwd=root)
        stdout = result.stdout
        if tool == "pipff" and name == "help":
            # pip's help, then pip-ff's own options (pip's help can't know them).
            assert stdout.endswith(cli.HELP), stdout
            stdout = stdout[: -len(cli.HELP)]
        listing = sorted(p.name for p in root.glob("*/*") if p.parent.name in ("dl", "wh"))
        results.append(
            (
                result.returncode,
                _normalise(stdout, venv.path, root),
                _normalise(result.stderr, venv.path, root),
                listing,
                venv.installed(),
            )
        )
    assert results[0] == results[1]


def test_same_install_report(template: Path, tmp_path: Path, index: IndexServer) -> None:
    reports = []
    for tool, venv, root, env in _pair(template, tmp_path):
        report = root / "report.json"
        _run(
            tool, venv, "install", "--index-url", index.url, "--report", str(report),
            "pipff-alpha", "pipff-beta[fast]", env=env, cwd=root,
        ).check()  # fmt: skip
        reports.append(json.loads(report.read_text()))
    assert reports[0] == reports[1]
    assert {item["metadata"]["name"] for item in reports[0]["install"]} == {
        "pipff-alpha",
        "pipff-beta",
        "pipff-gamma",
    }


def test_uninstall_and_reinstall(template: Path, tmp_path: Path, index: IndexServer) -> None:
    for tool, venv, root, env in _pair(template, tmp_path):
        _run(
            tool, venv, "install", "--index-url", index.url, "pipff-gamma", env=env, cwd=root
        ).check()
        result = _run(tool, venv, "uninstall", "-y", "pipff-gamma", env=env, cwd=root)
        assert result.returncode == 0, result.output
        assert "pipff-gamma" not in venv.installed()
