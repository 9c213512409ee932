"""A real mirror as the fallback index: devpi-server (issue #9).

devpi-server is installed from PyPI into a venv of its own, once per test session (the xdist
workers of one run share it), with the machine's normal pip configuration. It then runs on
loopback with its own server directory and home, and mirrors nothing but a loopback
IndexServer: it is initialised without its default PyPI mirror, each test creates a mirror
index of its own whose upstream is that IndexServer, and its environment points every proxy
variable at a closed loopback port, so a request for any other host fails instead of leaving
the machine. Every test is skipped (with the reason) where devpi-server cannot be installed
or started.

The chain under test: primary index down -> devpi's mirror -> local sources; and devpi's
``--offline-mode``, where it serves only the files it cached while it was online.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from pip_offline_fallback import oslock
from testbed import IndexServer, ProjectSet, clone_venv, closed_port_url, isolated_env, outage
from tests.helpers import pinned, run_checked, tail

# devpi-server derives its login secret with argon2 at start-up, sized for production (about
# 7 s here). These options (hidden, but what devpi's own tests lower) make that instant; they
# are probed first and left out when a devpi-server does not know them.
FAST_ARGON2 = ("--argon2-time-cost", "1", "--argon2-memory-cost", "8", "--argon2-parallelism", "1")
ROOT_PASSWORD = "pipff-test"
# A cold primary that refuses costs pip's retry back-off (about 7.5 s) before pip-ff turns to
# the fallback index; these tests are about devpi, not about pip's retries.
NO_RETRIES = ("--retries", "0")
LOCAL_SOURCES = {"pip-http-cache", "pip-ff-record"}
START_TIMEOUT = 90.0
INSTALL_TIMEOUT = 600.0

# Plain urllib for talking to devpi from the test process: never through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- devpi-server's own venv -----------------------------------------------------------------


@dataclass(frozen=True)
class DevpiInstall:
    """A venv holding devpi-server, and the start-up options its version accepts."""

    venv: Path
    version: str
    fast_options: tuple[str, ...]

    @property
    def bin(self) -> Path:
        return self.venv / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python(self) -> str:
        return self.script("python")

    def script(self, name: str) -> str:
        return str(self.bin / (f"{name}.exe" if os.name == "nt" else name))


def _install_env() -> dict[str, str]:
    """The test process's environment (its pip configuration reaches PyPI), minus pip-ff's."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith("PIPFF") and key not in ("PYTHONPATH", "PYTHONHOME")
    }


def _install_devpi(venv: Path) -> DevpiInstall:
    """Create ``venv`` and install devpi-server into it; raise RuntimeError saying why not.

    The venv gets no pip of its own (ensurepip costs seconds): the test interpreter's pip
    installs into it (``pip --python``, pip 22.3+).
    """
    env = _install_env()
    install = DevpiInstall(venv, "", ())
    run_checked([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, 120)
    pip = [sys.executable, "-m", "pip", "--python", install.python, "--disable-pip-version-check"]
    run_checked([*pip, "install", "--quiet", *pinned("devpi-server")], env, INSTALL_TIMEOUT)
    server = install.script("devpi-server")
    fast: tuple[str, ...]
    try:
        run_checked([server, *FAST_ARGON2, "--version"], env, 120)
        fast = FAST_ARGON2
    except RuntimeError:
        fast = ()
    version = run_checked([server, "--version"], env, 120).stdout.strip()
    return DevpiInstall(venv, version, fast)


@pytest.fixture(scope="session")
def devpi_install(tmp_path_factory: pytest.TempPathFactory) -> DevpiInstall:
    """devpi-server in a venv of its own; installed once per run (xdist workers share it)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's directory, above every worker's own
    root = base / "devpi-install"
    failed = root / "failed.txt"
    done = root / "done.json"
    root.mkdir(exist_ok=True)
    with oslock.exclusive(str(root / ".lock"), -1):  # xdist workers share the tool
        if not done.is_file() and not failed.is_file():
            try:
                install = _install_devpi(root / "venv")
            except RuntimeError as exc:
                failed.write_text(str(exc))
            else:
                done.write_text(
                    json.dumps({"version": install.version, "fast": list(install.fast_options)})
                )
    if failed.is_file():
        pytest.skip(f"devpi-server could not be installed from PyPI: {failed.read_text()}")
    info = json.loads(done.read_text())
    return DevpiInstall(root / "venv", info["version"], tuple(info["fast"]))


# -- a devpi-server process ------------------------------------------------------------------


class DevpiUnavailable(RuntimeError):
    """devpi-server did not start (the message has its log)."""


class Devpi:
    """One devpi-server on 127.0.0.1 with its own server directory, home and port.

    ``start()`` binds the same port every time, so a mirror URL stays valid across restarts.
    """

    def __init__(self, install: DevpiInstall, root: Path) -> None:
        self.install = install
        self.root = root
        self.serverdir = root / "server"
        self.home = root / "home"
        self.log_path = root / "devpi.log"
        self.port = _free_port()
        self.offline = False
        self._process: subprocess.Popen[bytes] | None = None
        self._token: str | None = None
        self.home.mkdir(parents=True, exist_ok=True)
        # Every proxy variable points at a closed port, loopback excepted: should devpi ever
        # ask another host (PyPI, say), that request fails here instead of leaving the machine.
        guard = closed_port_url().removesuffix("/simple/")
        self.env = isolated_env(
            root / "pip-cache",
            HOME=str(self.home),
            USERPROFILE=str(self.home),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            http_proxy=guard,
            https_proxy=guard,
            all_proxy=guard,
            HTTP_PROXY=guard,
            HTTPS_PROXY=guard,
            ALL_PROXY=guard,
            no_proxy="127.0.0.1,localhost",
            NO_PROXY="127.0.0.1,localhost",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def init(self) -> None:
        """``devpi-init`` without the default root/pypi (a mirror of PyPI)."""
        done = subprocess.run(
            [
                self.install.script("devpi-init"),
                "--serverdir",
                str(self.serverdir),
                "--no-root-pypi",
                "--root-passwd",
                ROOT_PASSWORD,
            ],
            env=self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise DevpiUnavailable(
                f"devpi-init exited {done.returncode}:\n{tail(done.stdout + done.stderr)}"
            )

    def start(self, *, offline: bool = False) -> None:
        if self.running:
            raise RuntimeError("devpi-server is already running")
        args = [
            self.install.script("devpi-server"),
            "--serverdir",
            str(self.serverdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.install.fast_options,
        ]
        if offline:
            args.append("--offline-mode")
        with open(self.log_path, "ab") as log:
            log.write(f"\n$ {' '.join(args)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                args,
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.offline = offline
        self._token = None  # devpi makes a new secret at every start: old tokens are void
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                raise DevpiUnavailable(f"devpi-server exited at start-up:\n{tail(self.log())}")
            with contextlib.suppress(OSError):
                self._request("GET", "/+api", timeout=2)
                return
            time.sleep(0.1)
        self.stop()
        raise DevpiUnavailable(f"devpi-server did not answer in {START_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL): its port refuses connections afterwards."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def restart(self, *, offline: bool = False) -> None:
        self.stop()
        self.start(offline=offline)

    def _request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> dict[str, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        with _OPENER.open(request, timeout=timeout) as response:
            answer: dict[str, object] = json.loads(response.read() or b"{}")
            return answer

    def _auth(self) -> dict[str, str]:
        """The X-Devpi-Auth header of a root login (devpi-client's way, without devpi-client)."""
        if self._token is None:
            answer = self._request("POST", "/+login", {"user": "root", "password": ROOT_PASSWORD})
            result = answer["result"]
            assert isinstance(result, dict), answer
            self._token = str(result["password"])
        credentials = base64.b64encode(f"root:{self._token}".encode()).decode()
        return {"X-Devpi-Auth": credentials}

    def create_mirror(self, name: str, upstream: str) -> str:
        """Create the mirror index root/NAME of ``upstream``; returns its simple URL."""
        config = {"type": "mirror", "mirror_url": upstream}
        try:
            self._request("PUT", f"/root/{name}", config, headers=self._auth())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"devpi refused index root/{name}: {exc} {exc.read()!r}") from exc
        return f"{self.url}/root/{name}/+simple/"

    def settle(self, quiet: float = 0.5, timeout: float = 15) -> None:
        """Wait until devpi has committed what it was doing (its serial stops moving).

        devpi streams a mirrored file to the client first and commits its copy just after, so
        the client may be done before the copy is: stopping devpi then would lose it.
        """
        deadline = time.monotonic() + timeout
        serial = self._request("GET", "/+status")["result"]
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self._request("GET", "/+status")["result"]
            assert isinstance(now, dict) and isinstance(serial, dict), now
            if now.get("serial") == serial.get("serial"):
                return
            serial = now
        raise AssertionError(f"devpi-server kept committing for {timeout}s")

    def page(self, simple_url: str, project: str) -> str:
        """A project's page on a devpi index, as HTML."""
        request = urllib.request.Request(f"{simple_url}{project}/")
        with _OPENER.open(request, timeout=30) as response:
            text: str = response.read().decode()
            return text


@pytest.fixture(scope="session")
def devpi_server(
    devpi_install: DevpiInstall, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Devpi]:
    """One devpi-server per xdist worker (the worker may run other modules' tests between this
    module's); tests may stop or restart it."""
    server = Devpi(devpi_install, tmp_path_factory.mktemp("devpi"))
    try:
        server.init()
        server.start()
    except (DevpiUnavailable, OSError, subprocess.TimeoutExpired) as exc:
        server.stop()
        pytest.skip(f"devpi-server {devpi_install.version} could not be started: {exc}")
    yield server
    server.stop()


@pytest.fixture
def devpi(devpi_server: Devpi) -> Devpi:
    """The module's devpi-server, running online (started again if a test stopped it)."""
    if devpi_server.offline or not devpi_server.running:
        devpi_server.restart()
    return devpi_server


@pytest.fixture
def upstream(dists: ProjectSet) -> Iterator[IndexServer]:
    """The index devpi mirrors: the standard projects, on a loopback port of its own."""
    with IndexServer(dists.dist_dir, yanked=dists.yanked) as server:
        yield server


@pytest.fixture
def mirror(devpi: Devpi, upstream: IndexServer, request: pytest.FixtureRequest) -> str:
    """This test's own mirror index on devpi (upstream: ``upstream``); its simple URL."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    return devpi.create_mirror(name, upstream.url)


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# -- the tests -------------------------------------------------------------------------------


def test_primary_down_devpi_mirror_serves(
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    upstream: IndexServer,
    devpi: Devpi,
    mirror: str,
    env: dict[str, str],
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", *NO_RETRIES, "-i", index.url, "--fallback-index-url", mirror,
            "--fallback-report", str(report), "pipff-alpha", "pipff-beta[fast]", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.output + devpi.log()
    installed = venv.installed()
    assert (installed["pipff-alpha"], installed["pipff-gamma"]) == ("2.0", "1.0")
    data = _report(report)
    assert [(f["url"], f["state"]) for f in data["fallback_indexes"]] == [(mirror, "used")]
    distributions = data["distributions"]
    assert {d["name"] for d in distributions} == {"pipff-alpha", "pipff-beta", "pipff-gamma"}
    assert {d["source"] for d in distributions} == {"fallback-index"}
    # devpi links its own copies (root/NAME/+f/..., relative links; pip quotes the "+"), never
    # the upstream's files.
    files = mirror.removesuffix("+simple/") + "+f/"
    assert all(unquote(d["url"]).startswith(files) for d in distributions), distributions
    # ... which it fetched from the upstream index for pip.
    assert any(p.startswith("/files/pipff_alpha-2.0-") for p in upstream.requested())
    assert "fallback indexes:" in result.output


def test_primary_and_devpi_down_use_local_sources(
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    devpi: Devpi,
    mirror: str,
    env: dict[str, str],
) -> None:
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-alpha", env=env).check()
    devpi.stop()
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-index-url", mirror,
            "--fallback-report", str(report), "pipff-alpha", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.output
    assert venv.installed() == warm.installed()
    # Said once, in one line; the summary names both (primary, devpi).
    assert result.output.count("is unreachable (connection refused)") == 1, result.output
    assert result.output.count("(connection refused)") >= 3, result.output
    data = _report(report)
    assert [(f["url"], f["state"]) for f in data["fallback_indexes"]] == [(mirror, "unreachable")]
    sources = {d["source"] for d in data["distributions"]}
    assert sources and sources <= LOCAL_SOURCES, data["distributions"]


def test_what_came_through_devpi_serves_when_both_are_down(
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    devpi: Devpi,
    mirror: str,
    env: dict[str, str],
) -> None:
    """The primary was down all along: everything local was recorded from devpi."""
    args = ["install", *NO_RETRIES, "-i", index.url, "--fallback-index-url", mirror]
    with outage("refused", index):
        warm = clone_venv(template, tmp_path / "warm")
        warm.pipff(*args, "pipff-alpha", env=env).check()
        devpi.stop()
        venv = clone_venv(template, tmp_path / "v")
        report = tmp_path / "report.json"
        result = venv.pipff(*args, "--fallback-report", str(report), "pipff-alpha", env=env)
    assert result.returncode == 0, result.output
    assert venv.installed() == warm.installed()
    data = _report(report)
    assert [(f["url"], f["state"]) for f in data["fallback_indexes"]] == [(mirror, "unreachable")]
    assert {d["source"] for d in data["distributions"]} == {"pip-ff-record"}


def test_devpi_offline_mode_serves_what_it_cached(
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    upstream: IndexServer,
    devpi: Devpi,
    mirror: str,
    env: dict[str, str],
) -> None:
    first = clone_venv(template, tmp_path / "first")
    with outage("refused", index):
        first.pipff(
            "install", *NO_RETRIES, "-i", index.url, "--fallback-index-url", mirror,
            "pipff-alpha", env=env,
        ).check()  # fmt: skip
        # devpi keeps the files it served; in offline mode it lists only those, asks no one.
        devpi.settle()
        upstream.stop()
        devpi.restart(offline=True)
        page = devpi.page(mirror, "pipff-alpha")
        assert "pipff_alpha-2.0-" in page
        assert "pipff_alpha-1.0-" not in page  # listed upstream, never downloaded
        # A fresh venv and a fresh pip cache: nothing local, only devpi's copies.
        fresh_env = isolated_env(tmp_path / "fresh-pip-cache")
        venv = clone_venv(template, tmp_path / "v", fresh_env)
        report = tmp_path / "report.json"
        result = venv.pipff(
            "install", *NO_RETRIES, "-i", index.url, "--fallback-index-url", mirror,
            "--fallback-report", str(report), "pipff-alpha",
        )  # fmt: skip
    assert result.returncode == 0, result.output + devpi.log()
    assert venv.installed() == first.installed()
    data = _report(report)
    assert [(f["url"], f["state"]) for f in data["fallback_indexes"]] == [(mirror, "used")]
    assert {d["source"] for d in data["distributions"]} == {"fallback-index"}
    assert {d["name"] for d in data["distributions"]} == {"pipff-alpha", "pipff-beta"}
