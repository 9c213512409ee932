"""Set-up step: gather the wheels the test virtual environments are made from.

    python testbed/prepare.py DIR [--repo REPO]

fills DIR with wheels of pip (the version the running interpreter has), whatever else the
project requires (waitress, for serve), and the project itself built from the repository's working
tree. This is the one step of the test bed that may use the network: it runs with the machine's
pip configuration (indexes, find-links, certificates) as it is. Everything after it, creating
and filling the test venvs included, is offline (``--no-index``).

Standard library only, and no imports from the rest of the test bed, so it runs as a script.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "PROJECT_DIST",
    "PrepareError",
    "build_project_wheel",
    "download_wheels",
    "missing_wheels",
    "pip_version",
    "prepare",
    "project_wheel_is_current",
    "repo_root",
    "source_digest",
]

logger = logging.getLogger("pipff.testbed.prepare")

PROJECT_DIST = "pip_offline_fallback"  # the project's name as wheel file names spell it
# Beside the project wheel: the digest of the sources it was built from (see source_digest), so
# a wheel built from another tree is never taken for this one's.
SOURCES_STAMP = f"{PROJECT_DIST}.sources"
# What the wheel is made of: the package, and the build files that shape it.
_WHEEL_INPUTS = ("setup.py", "pyproject.toml", "setup.cfg", "MANIFEST.in")

# Never copied into the throw-away source tree the project wheel is built from.
_EXCLUDED_TOP = {
    ".git",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "build",
    "dist",
    "htmlcov",
}


class PrepareError(RuntimeError):
    """A set-up command failed; the message holds its full output."""


def repo_root() -> Path:
    """The repository this file belongs to (``testbed/prepare.py`` -> the repo)."""
    return Path(__file__).resolve().parents[1]


def pip_version() -> str:
    """The version of the pip importable by the running interpreter."""
    import pip

    return str(pip.__version__)


def _required_prefixes(pip_ver: str) -> dict[str, str]:
    return {
        f"pip=={pip_ver}": f"pip-{pip_ver}-",
        "pip-offline-fallback": f"{PROJECT_DIST}-",
    }


def missing_wheels(directory: Path, pip_ver: str | None = None) -> list[str]:
    """Requirements (``pip==X``, ``pip-offline-fallback``) that have no wheel in ``directory``."""
    directory = Path(directory)
    names = [p.name for p in directory.glob("*.whl")] if directory.is_dir() else []
    return [
        requirement
        for requirement, prefix in _required_prefixes(pip_ver or pip_version()).items()
        if not any(name.startswith(prefix) for name in names)
    ]


def _run(command: Sequence[str], *, cwd: Path | None = None) -> str:
    logger.info("running %s", " ".join(command))
    result = subprocess.run(
        list(command),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PrepareError(
            f"command failed with exit code {result.returncode}: {' '.join(command)}\n"
            f"{result.stdout}"
        )
    return result.stdout


def _excluded(relative: Path) -> bool:
    parts = relative.parts
    return (
        not parts
        or parts[0] in _EXCLUDED_TOP
        or "__pycache__" in parts
        or any(part.endswith(".egg-info") for part in parts)
        or relative.suffix in (".pyc", ".pyo")
    )


def _source_files(repo: Path) -> list[Path]:
    """Files of the working tree: tracked and untracked-but-not-ignored (git), else a walk."""
    try:
        output = subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
        ).stdout
        candidates = [Path(os.fsdecode(item)) for item in output.split(b"\0") if item]
    except (OSError, subprocess.CalledProcessError):
        candidates = [
            path.relative_to(repo)
            for path in repo.rglob("*")
            if path.is_file() or path.is_symlink()
        ]
    return sorted(rel for rel in candidates if not _excluded(rel) and (repo / rel).is_file())


def _copy_tree(repo: Path, dest: Path) -> None:
    for relative in _source_files(repo):
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / relative, target)


def source_digest(repo: Path | None = None) -> str:
    """sha256 over the package's sources and build files in the working tree (names and bytes)."""
    repo = Path(repo) if repo is not None else repo_root()
    digest = hashlib.sha256()
    for relative in _source_files(repo):
        if relative.parts[0] != PROJECT_DIST and relative.as_posix() not in _WHEEL_INPUTS:
            continue
        digest.update(relative.as_posix().encode("utf-8") + b"\0")
        data = (repo / relative).read_bytes()
        digest.update(str(len(data)).encode("ascii") + b"\0" + data)
    return digest.hexdigest()


def project_wheel_is_current(directory: Path, repo: Path | None = None) -> bool:
    """Whether ``directory``'s project wheel was built from the working tree as it is now."""
    directory = Path(directory)
    if not any(directory.glob(f"{PROJECT_DIST}-*.whl")):
        return False
    try:
        stamp = (directory / SOURCES_STAMP).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return stamp == source_digest(repo)


def build_project_wheel(dest: Path, repo: Path | None = None) -> Path:
    """Build the project's wheel from the working tree into ``dest``; return its path.

    Builds from a throw-away copy of the tree (tracked and untracked-not-ignored files), so no
    ``build/`` or ``*.egg-info`` lands in the repository and stale build output never leaks into
    the wheel. Tries ``--no-build-isolation`` first (fast, offline), then with build isolation
    (which fetches the build requirements through the machine's pip configuration).
    Other wheels of the project in ``dest`` are removed, and the tree's :func:`source_digest` is
    written beside the wheel (``SOURCES_STAMP``).
    """
    repo = Path(repo) if repo is not None else repo_root()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    digest = source_digest(repo)
    with tempfile.TemporaryDirectory(prefix="pipff-project-build-") as tmp:
        source = Path(tmp) / "src"
        out = Path(tmp) / "out"
        _copy_tree(repo, source)
        base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)]
        try:
            _run([*base[:5], "--no-build-isolation", *base[5:]])
        except PrepareError as first:
            logger.info("build without build isolation failed; retrying with isolation")
            logger.debug("%s", first)
            try:
                _run(base)
            except PrepareError as second:
                raise PrepareError(
                    f"could not build the project wheel.\n--- without build isolation:\n"
                    f"{first}\n--- with build isolation:\n{second}"
                ) from None
        built = sorted(out.glob(f"{PROJECT_DIST}-*.whl"))
        if len(built) != 1:
            raise PrepareError(f"expected one {PROJECT_DIST} wheel, found {built}")
        # Atomic replacement, so a concurrent session installing from ``dest`` never sees a
        # half-written or missing wheel (an open file keeps its old contents).
        target = dest / built[0].name
        staging = dest / f".{built[0].name}.{os.getpid()}.tmp"
        shutil.copyfile(built[0], staging)
        os.replace(staging, target)
        for old in dest.glob(f"{PROJECT_DIST}-*.whl"):
            if old.name != target.name:
                old.unlink()
        # Taken before the copy: an edit made meanwhile makes the next check see a mismatch and
        # build again, never the reverse.
        stamp = dest / f".{SOURCES_STAMP}.{os.getpid()}.tmp"
        stamp.write_text(digest + "\n", encoding="ascii")
        os.replace(stamp, dest / SOURCES_STAMP)
    return target


def project_requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )
        text = archive.read(name).decode("utf-8")
    requirements = []
    for line in text.splitlines():
        if not line.strip():
            break
        if line.lower().startswith("requires-dist:"):
            requirements.append(line.split(":", 1)[1].strip())
    return requirements


def download_wheels(dest: Path, project_wheel: Path) -> None:
    """Download (as wheels) pip==<this pip> and the project's requirements, at the versions
    requirements/tests.txt pins (a new release never changes what the test venvs hold)."""
    pins = repo_root() / "requirements" / "tests.txt"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--only-binary=:all:",
            "-d",
            str(dest),
            *(["-c", str(pins)] if pins.is_file() else []),
            f"pip=={pip_version()}",
            str(project_wheel),
        ]
    )


def prepare(dir: Path, *, repo: Path | None = None) -> None:
    """Fill ``dir`` with every wheel the test venvs need (see the module docstring)."""
    directory = Path(dir)
    directory.mkdir(parents=True, exist_ok=True)
    project_wheel = build_project_wheel(directory, repo)
    download_wheels(directory, project_wheel)
    missing = missing_wheels(directory)
    if missing:
        raise PrepareError(f"still missing after download: {missing} in {directory}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("dir", type=Path, help="directory to fill with wheels")
    parser.add_argument("--repo", type=Path, default=None, help="repository root (default: ours)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="prepare: %(message)s")
    try:
        prepare(args.dir, repo=args.repo)
    except PrepareError as exc:
        logger.error("%s", exc)
        return 1
    logger.info("wheels ready in %s", args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
