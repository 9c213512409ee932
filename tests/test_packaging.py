"""Self-packaging test: build the sdist and the wheel from a copy of the repo, check what ships.

As pypa/build's own suite does, the real build front end runs on a copy of the source tree
(`python -m build`: the sdist first, then the wheel from the unpacked sdist, so the sdist is shown
to be complete). It runs without build isolation, on the test env's setuptools and wheel, so
the test needs no index.

The package's modules are taken from pip_offline_fallback/ in the repo; everything else that
ships is spelled out here.
"""

from __future__ import annotations

import ast
import base64
import configparser
import csv
import email.parser
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pip_offline_fallback"
NAME = "pip-offline-fallback"

# Must match setup.py. site.py exec()s .pth lines that start with "import".
PTH_NAME = "pip_offline_fallback.pth"
PTH_LINE = 'import os; os.environ.get("PIPFF") and __import__("pip_offline_fallback").start_hook()'
# PEP 829 (Python 3.15+): one `pkg.mod:callable` entry point per line.
START_NAME = "pip_offline_fallback.start"
START_LINE = "pip_offline_fallback:start_hook"

# Top-level entries of a working tree that are never part of the source.
_NOT_SOURCE = {".git", ".tox", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build"}
_NOT_SOURCE_ANYWHERE = {"__pycache__", "dist"}


def _version() -> str:
    """__version__ from the package's __init__.py, read without importing the package."""
    tree = ast.parse((ROOT / PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError(f"{PACKAGE}/__init__.py defines no __version__")


def _package_files() -> set[str]:
    """What the package contributes: its modules (as setuptools' package finder sees them) and
    py.typed."""
    files = {f"{PACKAGE}/py.typed"}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        rel = path.relative_to(ROOT)
        # The finder (not the namespace one) only descends into directories with an __init__.py.
        if all(
            (ROOT.joinpath(*rel.parts[:n]) / "__init__.py").is_file()
            for n in range(1, len(rel.parts))
        ):
            files.add(rel.as_posix())
    return files


def _ignore(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == ROOT
    return {
        n
        for n in names
        if n in _NOT_SOURCE_ANYWHERE
        or n.endswith((".pyc", ".egg-info"))
        or (top and n in _NOT_SOURCE)
    }


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("packaging")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=_ignore)
    # Decoys: importable packages beside the package that the package finder would take if
    # pyproject.toml stopped naming the package alone (testbed/ is a real one).
    for decoy in ("tests", "benchmarks", "testbed"):
        (src / decoy).mkdir(exist_ok=True)
        (src / decoy / "__init__.py").touch()
    out = work / "dist"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPFF")}
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"python -m build failed:\n{proc.stdout}"
    version = _version()
    sdist = out / f"{PACKAGE}-{version}.tar.gz"
    wheel = out / f"{PACKAGE}-{version}-py3-none-any.whl"
    assert sorted(p.name for p in out.iterdir()) == sorted([sdist.name, wheel.name])
    return {"sdist": sdist, "wheel": wheel}


def _wheel_text(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(name).decode("utf-8")


def test_wheel_contents_exact(dists: dict[str, Path]) -> None:
    info = f"{PACKAGE}-{_version()}.dist-info"
    expected = _package_files() | {
        PTH_NAME,
        START_NAME,
        f"{info}/METADATA",
        f"{info}/WHEEL",
        f"{info}/RECORD",
        f"{info}/entry_points.txt",
        f"{info}/top_level.txt",
        f"{info}/licenses/LICENSE",
    }
    with zipfile.ZipFile(dists["wheel"]) as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
    assert len(names) == len(set(names)), "duplicate entries in the wheel"
    # Nothing but the package, its two hook files and its .dist-info.
    assert {n.split("/")[0] for n in names} == {PACKAGE, PTH_NAME, START_NAME, info}
    assert set(names) == expected


def test_wheel_record_matches(dists: dict[str, Path]) -> None:
    info = f"{PACKAGE}-{_version()}.dist-info"
    with zipfile.ZipFile(dists["wheel"]) as zf:
        names = {i.filename for i in zf.infolist() if not i.is_dir()}
        rows = list(csv.reader(io.StringIO(zf.read(f"{info}/RECORD").decode("utf-8"))))
        assert {row[0] for row in rows} == names
        for path, digest, size in rows:
            if path == f"{info}/RECORD":
                assert (digest, size) == ("", "")
                continue
            data = zf.read(path)
            b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={b64}", path
            assert int(size) == len(data), path


def test_wheel_metadata(dists: dict[str, Path]) -> None:
    wheel = dists["wheel"]
    info = f"{PACKAGE}-{_version()}.dist-info"
    meta = email.parser.Parser().parsestr(_wheel_text(wheel, f"{info}/METADATA"))
    assert meta["Name"] == NAME
    assert meta["Version"] == _version()
    assert meta["Summary"] == (
        "A drop-in pip that keeps working when the package index can't be reached"
    )
    assert meta["Author"] == "pip-ff developers"
    assert meta["Keywords"] == "pip,offline,packaging,install,cache,fallback"
    assert meta["Requires-Python"] == ">=3.9"
    # pip only (issue 23): what pip-ff carries into another interpreter must suit its Python.
    assert (meta.get_all("Requires-Dist") or []) == ["pip>=23.0", "waitress<4,>=3.0.2"]
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload() == (ROOT / "README.md").read_text(encoding="utf-8")
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    classifiers = set(meta.get_all("Classifier") or [])
    assert "Typing :: Typed" in classifiers
    for minor in range(9, 15):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert _wheel_text(wheel, f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_text(
        encoding="utf-8"
    )
    assert _wheel_text(wheel, f"{info}/top_level.txt").split() == [PACKAGE]
    wheel_meta = email.parser.Parser().parsestr(_wheel_text(wheel, f"{info}/WHEEL"))
    assert wheel_meta["Root-Is-Purelib"] == "true"
    assert wheel_meta.get_all("Tag") == ["py3-none-any"]


def test_entry_points(dists: dict[str, Path]) -> None:
    info = f"{PACKAGE}-{_version()}.dist-info"
    eps = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    eps.read_string(_wheel_text(dists["wheel"], f"{info}/entry_points.txt"))
    assert eps.sections() == ["console_scripts", "tox"]
    assert dict(eps["console_scripts"]) == {"pip-ff": "pip_offline_fallback.launch:main"}
    # The tox plugin: tox loads it; nothing else imports pip_offline_fallback.tox_plugin.
    assert dict(eps["tox"]) == {"pip-offline-fallback": "pip_offline_fallback.tox_plugin"}


def test_startup_hook_files(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as zf:
        assert zf.read(PTH_NAME) == (PTH_LINE + "\n").encode("utf-8")
        assert zf.read(START_NAME) == (START_LINE + "\n").encode("utf-8")


# Run in a child, after `python -I -S`: no site-packages of this env, then site.addsitedir() on
# the unpacked wheel, which processes its .pth (and, on 3.15+, its .start) as start-up would.
_SITE_CHECK = """
import site, sys
site.addsitedir(sys.argv[1])
mod = sys.modules.get("pip_offline_fallback.startup")
print("not imported" if mod is None else "from " + mod.__file__)
"""


@pytest.mark.parametrize("pipff", [None, "1"])
def test_startup_hook_as_site_runs_it(
    dists: dict[str, Path], tmp_path: Path, pipff: str | None
) -> None:
    with zipfile.ZipFile(dists["wheel"]) as zf:
        zf.extractall(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPFF")}
    if pipff is not None:
        env["PIPFF"] = pipff
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _SITE_CHECK, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout.strip()
    if pipff is None:
        # Unset: neither the .pth line nor (3.15+) the .start entry point imports the hook.
        assert out == "not imported"
    else:
        # Set: the hook ran from the unpacked wheel.
        expected = tmp_path / PACKAGE / "startup.py"
        assert out == f"from {expected}"


# The .start entry point as PEP 829's site.py calls it (import the module, call the callable),
# in a child after `python -I -S`, where nothing of this env is importable but the unpacked wheel.
_ENTRY_POINT_CHECK = """
import importlib, json, os, sys  # site.py has imported os before any .pth or .start
sys.path.insert(0, sys.argv[1])
module, _, name = sys.argv[2].partition(":")
before = set(sys.modules)
getattr(importlib.import_module(module), name)()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("pipff", [None, "0", "1"])
def test_start_entry_point_costs_what_the_pth_line_costs(
    dists: dict[str, Path], tmp_path: Path, pipff: str | None
) -> None:
    """On Python 3.15+ the .start entry point runs at every start, PIPFF set or not: unset (or
    off), it imports the package's __init__ alone (which imports nothing), like the .pth line's
    own test of PIPFF; set, the start-up hook, and still nothing but ours."""
    with zipfile.ZipFile(dists["wheel"]) as zf:
        zf.extractall(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPFF")}
    if pipff is not None:
        env["PIPFF"] = pipff
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _ENTRY_POINT_CHECK, str(tmp_path), START_LINE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    imported = json.loads(proc.stdout)
    if pipff == "1":
        assert imported == [PACKAGE, f"{PACKAGE}.startup"]
    else:
        assert imported == [PACKAGE]


def test_sdist_contents_exact(dists: dict[str, Path]) -> None:
    base = f"{PACKAGE}-{_version()}"
    egg_info = f"{PACKAGE}.egg-info"
    expected = {
        "PKG-INFO",
        "README.md",
        "LICENSE",
        "pyproject.toml",
        "setup.cfg",  # setuptools' own: [egg_info] tags only (the repo has none)
        "setup.py",
        f"{egg_info}/PKG-INFO",
        f"{egg_info}/SOURCES.txt",
        f"{egg_info}/dependency_links.txt",
        f"{egg_info}/entry_points.txt",
        f"{egg_info}/requires.txt",
        f"{egg_info}/top_level.txt",
    } | _package_files()
    # setuptools' sdist adds tests/test*.py by default (but no conftest.py, no testbed); with no
    # MANIFEST.in that is all of the tests it ships, and not enough to run them from the sdist.
    expected |= {p.relative_to(ROOT).as_posix() for p in ROOT.glob("tests/test*.py")}
    with tarfile.open(dists["sdist"]) as tf:
        members = [m for m in tf.getmembers() if not m.isdir()]
    assert all(m.isfile() for m in members), "links or devices in the sdist"
    names = [m.name for m in members]
    assert all(n.startswith(base + "/") for n in names)
    rel = [n[len(base) + 1 :] for n in names]
    assert len(rel) == len(set(rel)), "duplicate entries in the sdist"
    # The sdist is for rebuilding the wheel: no tox.ini, no CI files, no generated hook files.
    assert set(rel) == expected
    with tarfile.open(dists["sdist"]) as tf:
        setup_cfg = tf.extractfile(f"{base}/setup.cfg")
        assert setup_cfg is not None
        sections = configparser.ConfigParser()
        sections.read_string(setup_cfg.read().decode("utf-8"))
    assert sections.sections() == ["egg_info"], "metadata belongs in pyproject.toml"


def test_docs_name_every_module_of_the_package() -> None:
    # docs/how-it-works.md maps the tree: every module (and subpackage) is named there, and
    # every file it names exists.
    package = ROOT / "pip_offline_fallback"
    text = (ROOT / "docs" / "how-it-works.md").read_text(encoding="utf-8")
    section = text[text.index("| Module | What it holds |") : text.index("The record lives in")]
    named = set(re.findall(r"`([\w/]+(?:\.py)?/?)`", section))
    tree = {p.name for p in package.glob("*.py")} | {
        f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()
    }
    assert tree <= named, sorted(tree - named)
    assert {n for n in named if n.endswith((".py", "/"))} <= tree


# Imported only where their tool runs: tox by the tox plugin, pip-tools by the pip-sync runner.
_TOOLS_IMPORTED_BY_THEIR_PLUGINS = {"tox", "piptools"}


@pytest.mark.skipif(sys.version_info < (3, 10), reason="needs sys.stdlib_module_names")
def test_the_package_imports_nothing_but_pip_and_the_standard_library() -> None:
    # Issue 23: what pip-ff carries into another interpreter (pip --python, tox and nox envs) is
    # its own package alone; a third-party import (packaging 26 needs Python 3.10, filelock 4.3
    # 3.11) would not load in an older target. pip's vendored packaging is pip's.
    allowed = {"pip", "pip_offline_fallback", *sys.stdlib_module_names}
    allowed |= _TOOLS_IMPORTED_BY_THEIR_PLUGINS
    # CPython's own SHA-256 module, renamed in 3.12: serve/digest.py takes whichever this
    # Python has (each is in stdlib_module_names of its own versions only).
    allowed |= {"_sha2", "_sha256"}
    foreign = set()
    for path in (ROOT / "pip_offline_fallback").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            foreign |= {(path.name, n) for n in names if n.split(".")[0] not in allowed}
    # The one exception: serve's HTTP server, imported by serve's command alone, which is never
    # carried (test_serve checks that the start-up hook and the install path never import it).
    assert foreign == {("command.py", "waitress")}, sorted(foreign)


MODULE_LINE_LIMIT = 400  # the project's rule: a module that grows past it is split by concept


def test_no_module_of_the_package_is_over_400_lines() -> None:
    package = ROOT / "pip_offline_fallback"
    long = {
        str(path.relative_to(package)): lines
        for path in sorted(package.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINE_LIMIT
    }
    assert not long, long
