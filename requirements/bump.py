"""Bump every pin the tests and CI install, on purpose: ``python requirements/bump.py [FILE...]``
(every file, or only the named ones, e.g. ``tools/uv.txt``; tox.ini's pip factors only with all).

Each pins file below is what one installation step installs, every package at an exact version,
resolved from its top-level requirements (``SETS``) by each CPython from 3.9 up that this machine
has (``python3.X`` on PATH, or under pyenv). A package that resolves differently on some Pythons
gets one line per version, with an environment marker; the newest Python's line also covers any
newer Python. The pip factors of tox.ini (``pip24: PIPFF_PIP_SPEC = ==X``) are set to the newest
release of each major. Nothing else changes, so that an upstream release alone can never turn CI
red: after a bump, run ``bash .ci/run`` and commit the pins with what they needed.

It uses each interpreter's pip with the machine's pip configuration (that is how it reaches
PyPI), through ``pip install --dry-run --ignore-installed --report``; it installs nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOX_INI = HERE.parent / "tox.ini"
PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


def pip_ff_requirements() -> list[str]:
    """pip-ff's own requirements but pip (pyproject.toml's [project] dependencies): every set
    that installs pip-ff's wheel with its dependencies pins them too."""
    text = (HERE.parent / "pyproject.toml").read_text()
    listed = re.search(r"(?m)^dependencies = \[(.*?)\]", text)
    names = re.findall(r'"([^"]+)"', listed.group(1)) if listed else []
    return [name for name in names if not re.match(r"pip\b(?!-)", name)]


PIP_FF_DEPS = pip_ff_requirements()

SETS: dict[str, tuple[str, list[str]]] = {
    "ci.txt": (".ci/run's tox", ["tox>=4.30,<5"]),
    "tests.txt": (
        "each tox test env (deps) and the test bed's wheels (testbed/prepare.py)",
        ["pytest", "pytest-xdist", "trustme", "setuptools>=77", "wheel", "build", *PIP_FF_DEPS],
    ),
    # mypy 1.19 is the last that checks for Python 3.9 (pyproject.toml: python_version = 3.9),
    # and packaging 26.4 uses `match`, which mypy rejects for 3.9.
    "lint.txt": ("the lint env", ["ruff", "mypy<1.20", "pip", "packaging<26.4", "filelock"]),
    # The tools the tests install into venvs of their own (tests/test_tools.py's _tool_venv),
    # beside the pip under test: their files pin no pip.
    "tools/tox.txt": ("tests/test_tools.py's tox", ["tox>=4.0.9,<5", *PIP_FF_DEPS]),
    # pip-tools 7.7 needs pip 26.2.2+ beside it; the suite runs it beside pip 23.0 too.
    "tools/pip-tools.txt": ("tests/test_tools.py's pip-tools", ["pip-tools>=7,<7.7", *PIP_FF_DEPS]),
    "tools/nox.txt": ("tests/test_tools.py's nox", ["nox>=2024.3.2", *PIP_FF_DEPS]),
    "tools/build.txt": ("tests/test_tools.py's build", ["build>=1.1,<2", *PIP_FF_DEPS]),
    "tools/devpi-server.txt": ("tests/test_devpi.py's devpi-server", ["devpi-server>=6,<7"]),
    "tools/virtualenv.txt": ("tests/test_tools.py's virtualenv", ["virtualenv", *PIP_FF_DEPS]),
    # The installers tests/test_serve_tools.py points at pip-ff serve. pdm fails with hishel 2.
    "tools/uv.txt": ("tests/test_serve_tools.py's uv", ["uv"]),
    "tools/pdm.txt": ("tests/test_serve_tools.py's pdm", ["pdm", "hishel<2"]),
    # pip 23.0 on Python 3.9 backtracks poetry's dependencies for over 25 minutes without an
    # answer: poetry is pinned for 3.10+, and its test skips on 3.9.
    "tools/poetry.txt": (
        "tests/test_serve_tools.py's poetry",
        ['poetry; python_version >= "3.10"'],
    ),
    "tools/pipx.txt": ("tests/test_serve_tools.py's pipx", ["pipx"]),
    "tools/hatch.txt": ("tests/test_serve_tools.py's hatch", ["hatch"]),
}
PIP_MAJORS = {"pip24": "24", "pip25": "25", "pip26": "26"}  # pip23 stays at 23.0, the lowest


def interpreters() -> dict[str, str]:
    """Python version -> an interpreter of it on this machine."""
    found = {}
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for version in PYTHONS:
        candidates = sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
        which = shutil.which(f"python{version}")
        path = str(candidates[-1]) if candidates else which
        if path and subprocess.run([path, "-c", ""], capture_output=True).returncode == 0:
            found[version] = path
    return found


def resolve(python: str, requirements: list[str]) -> dict[str, str]:
    """name -> version that ``python``'s pip would install for ``requirements`` today."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
             "--disable-pip-version-check", "--report", str(report), *requirements],
            check=True,
        )  # fmt: skip
        installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}


def marker(versions: list[str], all_versions: list[str]) -> str:
    """A python_version marker that holds on exactly ``versions`` of ``all_versions`` (the last
    of which stands for itself and every newer Python)."""
    if versions == all_versions:
        return ""
    runs: list[list[str]] = []
    for version in versions:
        index = all_versions.index(version)
        if runs and all_versions.index(runs[-1][-1]) == index - 1:
            runs[-1].append(version)
        else:
            runs.append([version])
    parts = []
    for run in runs:
        low, high = run[0], run[-1]
        clauses = []
        if low == high and low not in (all_versions[0], all_versions[-1]):
            parts.append(f'python_version == "{low}"')
            continue
        if low != all_versions[0]:
            clauses.append(f'python_version >= "{low}"')
        if high != all_versions[-1]:
            clauses.append(f'python_version <= "{high}"')
        parts.append(" and ".join(clauses))
    if len(parts) == 1:
        return f" ; {parts[0]}"
    return " ; " + " or ".join(f"({part})" for part in parts)


def write_pins(name: str, purpose: str, requirements: list[str], pythons: dict[str, str]) -> None:
    by_python = {version: resolve(python, requirements) for version, python in pythons.items()}
    order = list(pythons)
    packages = sorted({pkg for pins in by_python.values() for pkg in pins}, key=str.lower)
    if name.startswith("tools/"):
        packages = [package for package in packages if package != "pip"]
    lines = []
    for package in packages:
        versions: dict[str, list[str]] = {}
        for python_version in order:
            pin = by_python[python_version].get(package)
            if pin is not None:
                versions.setdefault(pin, []).append(python_version)
        for pin, where in versions.items():
            lines.append(f"{package}=={pin}{marker(where, order)}\n")
    path = HERE / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"# Pinned: what {purpose} installs, resolved from {', '.join(requirements)}\n"
        f"# on CPython {', '.join(order)} (the last line of a package covers newer Pythons too).\n"
        "# Written by `python requirements/bump.py`; bump on purpose, never by hand.\n"
        + "".join(lines)
    )
    print(f"{path.relative_to(HERE.parent)}: {len(lines)} pins")


def newest_pip(major: str, python: str) -> str:
    pins = resolve(python, [f"pip>={major},<{int(major) + 1}"])
    return pins["pip"]


def main(names: list[str]) -> int:
    unknown = set(names) - set(SETS)
    if unknown:
        print(f"unknown pins files: {sorted(unknown)}; known: {sorted(SETS)}", file=sys.stderr)
        return 2
    pythons = interpreters()
    if not pythons:
        print("no CPython 3.9+ found", file=sys.stderr)
        return 1
    print("resolving with", ", ".join(f"{v} ({p})" for v, p in pythons.items()))
    for name, (purpose, requirements) in SETS.items():
        if not names or name in names:
            write_pins(name, purpose, requirements, pythons)
    if names:
        return 0
    newest_python = pythons[list(pythons)[-1]]
    text = TOX_INI.read_text()
    for factor, major in PIP_MAJORS.items():
        version = newest_pip(major, newest_python)
        text = re.sub(rf"(?m)^(\s*{factor}: PIPFF_PIP_SPEC = )==\S+$", rf"\g<1>=={version}", text)
        print(f"tox.ini: {factor} -> pip=={version}")
    TOX_INI.write_text(text)
    print("now run `bash .ci/run`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
