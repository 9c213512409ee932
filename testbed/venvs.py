"""Fresh, real virtual environments for every test, made fast.

One *template* venv per pytest session (per xdist worker) gets pip (the same version as the test
interpreter's) and pip-offline-fallback installed offline from a directory
of wheels (:class:`ToolWheels`); every test gets a copy of it (:func:`clone_venv`). pip is always
run as ``python -m pip`` (never through ``bin/`` scripts, whose shebangs name the template), and
always in an isolated environment (:func:`isolated_env`) that ignores the machine's pip
configuration, proxies and pip-ff's own switches.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from testbed.prepare import (
    PROJECT_DIST,
    build_project_wheel,
    missing_wheels,
    prepare,
    project_requirements,
    project_wheel_is_current,
    repo_root,
)
from testbed.prepare import (
    pip_version as _pip_version,
)

__all__ = [
    "CommandFailed",
    "CommandTimeout",
    "Result",
    "ToolWheels",
    "Venv",
    "clone_venv",
    "isolated_env",
    "make_template",
]

WHEELS_ENV = "PIPFF_TEST_WHEELS"
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
# Also dropped: they would make the venv's Python import from, or trust, something outside it.
_ALSO_DROPPED = {"PYTHONPATH", "PYTHONHOME", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}


def isolated_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """The environment every pip subprocess of the suite runs with.

    ``os.environ`` minus every ``PIP_*`` and ``PIPFF*`` variable, minus the proxy variables (any
    case), minus PYTHONPATH/PYTHONHOME/REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE; plus
    ``PIP_CONFIG_FILE=os.devnull`` (no pip configuration file is read at all),
    ``PIP_DISABLE_PIP_VERSION_CHECK=1``, ``PIP_NO_INPUT=1``, ``PIP_CACHE_DIR=cache_dir`` and
    ``PYTHONDONTWRITEBYTECODE=1``; then ``extra`` (e.g. ``PIPFF="1"``) on top.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("PIP_", "PIPFF"))
        and key.lower() not in _PROXY_VARIABLES
        and key not in _ALSO_DROPPED
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_CACHE_DIR=str(cache_dir),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


class CommandFailed(AssertionError):
    """A command exited non-zero where success was required (message: the full output)."""


class CommandTimeout(AssertionError):
    """A command outlived its timeout and was killed (message: the output it had produced)."""


@dataclass
class Result:
    """What a command in a venv did."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self) -> str:
        """stdout then stderr."""
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\n"
            f"exit code {self.returncode} after {self.elapsed:.2f}s\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )

    def check(self) -> Result:
        """Return self if the command succeeded, else raise CommandFailed with the full output."""
        if self.returncode != 0:
            raise CommandFailed(self.describe())
        return self


def _run(
    args: list[str], *, env: Mapping[str, str], timeout: float, cwd: Path | str | None
) -> Result:
    start = time.monotonic()
    process = subprocess.Popen(
        args,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # its own process group: a timeout kills pip's children too
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.kill()
        stdout, stderr = process.communicate()
        result = Result(args, -9, stdout, stderr, time.monotonic() - start)
        raise CommandTimeout(f"timed out after {timeout}s\n{result.describe()}") from None
    return Result(args, process.returncode, stdout, stderr, time.monotonic() - start)


def _bin_dir(path: Path) -> Path:
    return path / ("Scripts" if os.name == "nt" else "bin")


class Venv:
    """A virtual environment: run its Python, its pip, and pip-ff in it.

    ``env`` is the environment used when a call passes none; by default an isolated one whose
    pip cache sits next to the venv (``<path>-pip-cache``). A dict is kept by reference, so a
    test that sets ``env["PIPFF"] = "1"`` on the ``env`` fixture changes this venv's runs too.
    """

    def __init__(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        if env is None:
            env = isolated_env(self.path.with_name(self.path.name + "-pip-cache"))
        self.env: dict[str, str] = env if isinstance(env, dict) else dict(env)

    def __repr__(self) -> str:
        return f"Venv({str(self.path)!r})"

    @property
    def bin(self) -> Path:
        return _bin_dir(self.path)

    @property
    def python(self) -> Path:
        return self.bin / ("python.exe" if os.name == "nt" else "python")

    @property
    def site_packages(self) -> Path:
        if os.name == "nt":
            return self.path / "Lib" / "site-packages"
        found = sorted(self.path.glob("lib/python3*/site-packages"))
        if not found:
            raise FileNotFoundError(f"no site-packages in {self.path}")
        return found[0]

    def run(
        self,
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 300,
        cwd: Path | str | None = None,
    ) -> Result:
        """Run this venv's Python with ``args`` (e.g. ``run("-c", "import x")``)."""
        argv = [str(self.python), *(os.fspath(a) for a in args)]
        # Not the repo root: `python -m pip_offline_fallback` there would import the working tree,
        # not this venv's installed wheel.
        cwd = self.path.parent if cwd is None else cwd
        return _run(argv, env=self.env if env is None else env, timeout=timeout, cwd=cwd)

    def pip(
        self,
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 300,
        cwd: Path | str | None = None,
    ) -> Result:
        """``python -m pip ARGS`` (plain pip)."""
        return self.run("-m", "pip", *args, env=env, timeout=timeout, cwd=cwd)

    def pipff(
        self,
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 300,
        cwd: Path | str | None = None,
    ) -> Result:
        """``python -m pip_offline_fallback ARGS`` (pip-ff)."""
        return self.run("-m", "pip_offline_fallback", *args, env=env, timeout=timeout, cwd=cwd)

    def installed(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Canonical project name -> version of every distribution installed in the venv."""
        code = (
            "import importlib.metadata as m, json, re\n"
            "found = {}\n"
            "for d in m.distributions():\n"
            "    name = d.metadata['Name']\n"
            "    if name:\n"
            "        found.setdefault(re.sub(r'[-_.]+', '-', name).lower(), d.version)\n"
            "print(json.dumps(found))\n"
        )
        result = self.run("-c", code, env=env, timeout=120).check()
        installed: dict[str, str] = json.loads(result.stdout)
        return installed


# -- the wheels the venvs are made from ----------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (xdist workers share the wheels cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: the project's own lock
        from pip_offline_fallback.oslock import exclusive

        with exclusive(str(path), -1):
            yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str | None:
    """The project name of a Requires-Dist line, or None when its marker needs an extra."""
    if "extra" in requirement.split(";", 1)[-1] and ";" in requirement:
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return _canonical(match.group(1)) if match else None


@dataclass(frozen=True)
class ToolWheels:
    """A directory holding wheels of pip (this interpreter's version), the project's other
    requirements (none today), and the project itself."""

    path: Path

    @property
    def pip_version(self) -> str:
        return _pip_version()

    def missing(self) -> list[str]:
        missing = missing_wheels(self.path, self.pip_version)
        project = self.project_wheel(required=False)
        if project is not None:
            have = {_canonical(p.name.split("-", 1)[0]) for p in self.path.glob("*.whl")}
            for requirement in project_requirements(project):
                name = _requirement_name(requirement)
                if name is not None and name not in have:
                    missing.append(requirement)
        return missing

    def is_complete(self) -> bool:
        return not self.missing()

    @property
    def pip_wheel(self) -> Path:
        found = sorted(self.path.glob(f"pip-{self.pip_version}-*.whl"))
        if not found:
            raise FileNotFoundError(f"no pip {self.pip_version} wheel in {self.path}")
        return found[0]

    def project_wheel(self, required: bool = True) -> Path | None:
        found = sorted(self.path.glob(f"{PROJECT_DIST}-*.whl"))
        if not found and required:
            raise FileNotFoundError(f"no {PROJECT_DIST} wheel in {self.path}")
        return found[-1] if found else None

    @staticmethod
    def cache_dir() -> Path:
        """``<repo>/.pytest_cache/pipff-wheels/<pip version>-py<X.Y>/``."""
        tag = f"{_pip_version()}-py{sys.version_info[0]}.{sys.version_info[1]}"
        return repo_root() / ".pytest_cache" / "pipff-wheels" / tag

    @classmethod
    def locate(cls) -> ToolWheels:
        """The wheels for this session, with a project wheel built from the working tree.

        ``$PIPFF_TEST_WHEELS`` when it is set and complete (tox fills it with prepare.py before
        the tests). Otherwise the cache directory under ``.pytest_cache``, filled by prepare()
        when incomplete. Either way the project wheel is rebuilt when the stamp beside it (the
        digest of the sources it was built from) doesn't match the tree: a wheel left from an
        older tree would test old code.
        """
        configured = os.environ.get(WHEELS_ENV)
        if configured:
            wheels = cls(Path(configured))
            if wheels.is_complete():
                wheels._rebuild_if_stale()
                return wheels
        wheels = cls(cls.cache_dir())
        with _file_lock(wheels.path.with_name(wheels.path.name + ".lock")):
            if not wheels.is_complete():
                prepare(wheels.path)
        wheels._rebuild_if_stale()
        return wheels

    def _rebuild_if_stale(self) -> None:
        # Under a lock: xdist workers share the directory, and rebuild once between them.
        with _file_lock(self.path.with_name(self.path.name + ".lock")):
            if not project_wheel_is_current(self.path):
                build_project_wheel(self.path)


# -- template and clones -------------------------------------------------------------------------


def make_template(dir: Path, wheels: ToolWheels | Path) -> Path:
    """Create a venv at ``dir`` with pip and pip-offline-fallback (and its requirements), offline.

    ``python -m venv --without-pip``, then pip installs itself (run from its own wheel) and the
    rest with ``--no-index --find-links <wheels>``. Returns ``dir``.
    """
    directory = Path(dir)
    tool_wheels = wheels if isinstance(wheels, ToolWheels) else ToolWheels(Path(wheels))
    if directory.exists():
        shutil.rmtree(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    env = isolated_env(directory.with_name(directory.name + "-pip-cache"))
    _run(
        [sys.executable, "-m", "venv", "--without-pip", str(directory)],
        env=env,
        timeout=300,
        cwd=None,
    ).check()
    venv = Venv(directory, env)
    venv.run(
        tool_wheels.pip_wheel / "pip",
        "install",
        "--no-index",
        "--find-links",
        tool_wheels.path,
        f"pip=={tool_wheels.pip_version}",
        "pip-offline-fallback",
    ).check()
    return directory


def clone_venv(template: Path, dest: Path, env: Mapping[str, str] | None = None) -> Venv:
    """Copy the template venv to ``dest`` (symlinks kept as symlinks) and return it.

    A real copy, but for pip's own package (three quarters of the venv's ~1400 files): its files
    are hard links to the template's. pip never writes into an installed file (``--ignore-
    installed`` or an upgrade removes the old file before writing the new one, scripts too:
    test_venv_clone checks it), and nothing else writes there (tests patch pip in memory).
    Everything else is a real copy: pip-ff and the tests may rewrite those files in place.
    With ``cp`` (POSIX): ``cp -al`` of everything, then ``cp -a --remove-destination`` of what
    must be a copy, about a third of the CPU time of ``cp -a`` of everything (every test clones
    at least one venv); else copytree, pip's package linked likewise.
    """
    template, dest = Path(template), Path(dest)
    linked = _pip_package(template)
    cp = shutil.which("cp") if os.name == "posix" else None
    if cp is not None and not dest.exists():
        if _cp_clone(cp, template, dest, linked):
            return Venv(dest, env)
        shutil.rmtree(dest, ignore_errors=True)

    def copy(source: str, target: str) -> None:
        if linked is not None and Path(source).is_relative_to(linked):
            os.link(source, target)
        else:
            shutil.copy2(source, target)

    shutil.copytree(template, dest, symlinks=True, copy_function=copy)
    return Venv(dest, env)


def _pip_package(template: Path) -> Path | None:
    """pip's package directory in the template, if it is where a venv keeps it."""
    try:
        package = Venv(template).site_packages / "pip"
    except FileNotFoundError:
        return None
    return package if package.is_dir() and not package.is_symlink() else None


def _cp_clone(cp: str, template: Path, dest: Path, linked: Path | None) -> bool:
    """``cp -al``, then a real copy of everything beside the path down to ``linked``."""
    commands = [[cp, "-a" if linked is None else "-al", "--", os.fspath(template), os.fspath(dest)]]
    if linked is not None:
        level = linked
        while level != template:
            others = sorted(p for p in level.parent.iterdir() if p.name != level.name)
            if others:
                target = dest / level.parent.relative_to(template)
                copy = [cp, "-a", "--remove-destination", "--", *map(os.fspath, others)]
                commands.append([*copy, os.fspath(target)])
            level = level.parent
    for command in commands:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if done.returncode != 0:
            return False
    return True


def wheel_metadata(wheel: Path) -> str:
    """The METADATA text of a wheel (handy in assertions)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )
        return archive.read(name).decode("utf-8")
