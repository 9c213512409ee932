"""Trust: fall back only on a real outage, and only to data from the right place.

Online pip-ff is pip: a flaky index (one reset, one 5xx, a slow first byte) gives exactly plain
pip's result, even on a host pip-ff has recorded from. An answer that can't be what was asked (a
captive portal's login page) is never recorded, and local data answers instead. The chain of
fallback indexes serves only as a stand-in for the primary each is bound to; a mirror request
carries nothing of the primary's. A redirected file resolves offline; a record made with
credentials answers only the same credentials; no secret reaches a child process.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from testbed import (
    CertificateAuthority,
    FailingProxy,
    IndexServer,
    ProjectSet,
    StallServer,
    TunnelProxy,
    build_sdist,
    build_wheel,
    clone_venv,
    closed_port_url,
    outage,
)
from tests.helpers import (
    age_pip_cache,
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
    pipff_versions,
    record_alpha_1_then_publish_2,
)

SECRET = "pipff-s3cr3t-t0ken"


def _link(dists: ProjectSet, dest: Path, *, skip: tuple[str, ...] = ()) -> Path:
    dest.mkdir()
    for source in dists.dist_dir.iterdir():
        if not source.name.startswith(skip):
            (dest / source.name).symlink_to(source)
    return dest


# -- online, a flaky index is still pip ---------------------------------------------------------


@pytest.mark.parametrize("glitch", ["reset", "503", "slow-first-byte"])
def test_a_glitch_online_gives_plain_pips_result(
    glitch: str,
    template: Path,
    tmp_path: Path,
    dists: ProjectSet,
    growing_index: IndexServer,
    env: dict[str, str],
) -> None:
    """alpha 1.0 recorded, 2.0 published, one glitch on alpha's page: pip retries and installs
    2.0, and so must pip-ff (it used to install the stale 1.0 from its record and exit 0)."""
    index = growing_index
    record_alpha_1_then_publish_2(clone_venv(template, tmp_path / "warm"), dists, index, env)
    page = "/simple/pipff-alpha/"
    results = {}
    for tool in ("pip", "pipff"):
        if glitch == "reset":
            index.reset_next[page] = 1
        elif glitch == "503":
            index.fail_next[page] = [503]
        else:
            index.delay = 2.0  # twice the 1 s connect deadline: reading is not connecting
        venv = clone_venv(template, tmp_path / tool)
        run = venv.pip if tool == "pip" else venv.pipff
        extra = ["--connect-timeout", "1"] if tool == "pipff" else []
        result = run("install", "-i", index.url, *extra, "pipff-alpha", env=env)
        index.delay = 0.0
        assert result.returncode == 0, result.describe()
        results[tool] = pipff_versions(venv)
        if tool == "pipff":
            assert "pip-ff:" not in result.output, result.describe()  # nothing fell back
    assert results["pip"]["pipff-alpha"] == "2.0"
    assert results["pipff"] == results["pip"]


def test_an_explicit_timeout_is_never_shortened(
    template: Path, tmp_path: Path, https_index: IndexServer, env: dict[str, str]
) -> None:
    """A host pip-ff recorded from, behind a proxy that takes 3 s to open each tunnel (connect
    time, for urllib3): with --timeout 20 the 1 s connect deadline must not cut in. Plain pip
    installs the new version, and so must pip-ff (it used to fall back to its record)."""
    cert = ["--cert", str(https_index.ca_bundle)]
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", *cert, "-i", https_index.url, "pipff-gamma", env=env).check()
    age_pip_cache(Path(env["PIP_CACHE_DIR"]), 3600)
    venv = clone_venv(template, tmp_path / "v")
    with TunnelProxy(delay=3.0) as proxy:
        result = venv.pipff(
            "install", *cert, "-i", https_index.url, "--proxy", proxy.url, "--timeout", "20",
            "--connect-timeout", "1", "--retries", "0", "pipff-gamma", env=env,
        )  # fmt: skip
        assert proxy.connects, "the proxy was never asked"
    assert result.returncode == 0, result.describe()
    assert "pip-ff:" not in result.output, result.describe()
    assert pipff_versions(venv) == {"pipff-gamma": "1.0"}


def test_a_hung_proxy_costs_one_deadline_for_every_host_behind_it(
    template: Path,
    tmp_path: Path,
    dists: ProjectSet,
    https_index: IndexServer,
    ca: CertificateAuthority,
    env: dict[str, str],
) -> None:
    """A proxy that accepts and never answers CONNECT: the connect deadline once, then every
    host behind it is down (it used to cost a deadline per host: the pages host, the files
    host, an extra index)."""
    extra_dir = tmp_path / "extra"
    extra_dir.mkdir()
    for source in dists.dist_dir.glob("pipff_gamma-*"):
        (extra_dir / source.name).symlink_to(source)
    with IndexServer(extra_dir, https=ca) as extra:
        args = ["--cert", str(https_index.ca_bundle), "-i", https_index.url]
        args += ["--extra-index-url", extra.url]
        warm = clone_venv(template, tmp_path / "warm")
        warm.pipff("install", *args, "pipff-alpha", "pipff-gamma", env=env).check()
        age_pip_cache(Path(env["PIP_CACHE_DIR"]), 3600)
        venv = clone_venv(template, tmp_path / "v")
        with StallServer() as proxy:
            result = venv.pipff(
                "install", *args, "--proxy", proxy.base_url, "pipff-alpha", "pipff-gamma", env=env
            )
            connections = proxy.connections
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(warm)
    assert connections == 1, result.describe()
    assert f"proxy {proxy.base_url}" in result.output, result.describe()


# -- a captive portal is not an index ------------------------------------------------------------


class CaptivePortal:
    """Answers every request on ``port`` with 200 and a login page (hotel or train Wi-Fi)."""

    PAGE = b"<html><body><form action='/login'><input type='password'></form></body></html>"

    def __init__(self, port: int, *, tls: Any = None) -> None:
        page = self.PAGE

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CaptivePortal:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_captive_portal_is_not_taken_for_the_index(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    online = clone_venv(template, tmp_path / "online")
    online.pipff("install", "-i", index.url, "pipff-alpha", env=env).check()
    index.stop()
    behind_portal = clone_venv(template, tmp_path / "portal")
    with CaptivePortal(index.port):
        result = behind_portal.pipff("install", "-i", index.url, "pipff-alpha", env=env)
    assert result.returncode == 0, result.describe()
    assert pipff_versions(behind_portal) == pipff_versions(online)
    assert "login page?" in result.output, result.describe()
    # Nothing the portal said was recorded over the good record: offline still works.
    later = clone_venv(template, tmp_path / "later")
    with outage("refused", index):
        offline = later.pipff("install", "-i", index.url, "pipff-alpha", env=env)
    assert offline.returncode == 0, offline.describe()
    assert pipff_versions(later) == pipff_versions(online)


def test_an_https_portal_with_another_name_is_an_outage(
    template: Path,
    tmp_path: Path,
    https_index: IndexServer,
    ca: CertificateAuthority,
    env: dict[str, str],
) -> None:
    cert = ["--cert", str(https_index.ca_bundle)]
    online = clone_venv(template, tmp_path / "online")
    online.pipff("install", *cert, "-i", https_index.url, "pipff-alpha", env=env).check()
    age_pip_cache(Path(env["PIP_CACHE_DIR"]), 3600)  # pip revalidates: the portal is met
    https_index.stop()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("login.portal.test").configure_cert(context)
    venv = clone_venv(template, tmp_path / "portal")
    with CaptivePortal(https_index.port, tls=context):
        result = venv.pipff("install", *cert, "-i", https_index.url, "pipff-alpha", env=env)
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(online)
    assert "TLS handshake failed" in result.output, result.describe()


# -- the chain: only a stand-in for its own primary ------------------------------------------------


@pytest.fixture
def attacker(tmp_path: Path, dists: ProjectSet) -> Iterator[IndexServer]:
    """A public mirror serving an attacker's pipff-alpha 99.0."""
    dest = tmp_path / "attacker"
    dest.mkdir()
    build_wheel(dest, "pipff-alpha", "99.0")
    with IndexServer(dest) as server:
        yield server


@pytest.fixture
def empty_mirror(tmp_path: Path) -> Iterator[IndexServer]:
    """A mirror that knows no project (404 for every page)."""
    dest = tmp_path / "empty"
    dest.mkdir()
    with IndexServer(dest) as server:
        yield server


@pytest.mark.parametrize("binding", ["unbound", "bound-elsewhere"])
def test_the_chain_never_serves_what_the_primary_serves_from_another_index(
    binding: str,
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    empty_mirror: IndexServer,
    attacker: IndexServer,
    env: dict[str, str],
) -> None:
    """Private primary down, its pipff-alpha recorded; mirror 1 says "not found"; a public
    mirror serves pipff-alpha 99.0. The first mirror that answers decides, so the record answers
    (2.0), and a mirror bound to another primary is never asked for this one's pages."""
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-alpha", env=env).check()
    public = attacker.url if binding == "unbound" else f"{closed_port_url()}/simple/={attacker.url}"
    venv = clone_venv(template, tmp_path / "v")
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-index-url", empty_mirror.url,
            "--fallback-index-url", public, "pipff-alpha", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(warm)
    assert "/simple/pipff-alpha/" in empty_mirror.requested()
    assert attacker.requested() == []


def test_a_live_mirror_that_lists_nothing_does_not_hide_the_record(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """A devpi whose upstream is gone answers 200 with no files: the record answers."""
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-alpha", env=env).check()
    empty_page = b"<html><body><h1>Links for x</h1></body></html>"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(empty_page)))
            self.end_headers()
            self.wfile.write(empty_page)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mirror = f"http://127.0.0.1:{server.server_address[1]}/root/pypi/+simple/"
    venv = clone_venv(template, tmp_path / "v")
    try:
        with outage("refused", index):
            result = venv.pipff(
                "install", "-i", index.url, "--fallback-index-url", mirror, "pipff-alpha", env=env
            )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(warm)


def test_a_live_mirror_that_cannot_satisfy_a_requirement_gives_way_to_the_record(
    template: Path, tmp_path: Path, dists: ProjectSet, index: IndexServer, env: dict[str, str]
) -> None:
    """A devpi in offline mode lists only what it holds (alpha 1.0); the record has 2.0."""
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-alpha==2.0", env=env).check()
    held = _link(dists, tmp_path / "held", skip=("pipff_alpha-1.1", "pipff_alpha-2.0"))
    with IndexServer(held) as mirror:
        venv = clone_venv(template, tmp_path / "v")
        with outage("refused", index):
            result = venv.pipff(
                "install", "-i", index.url, "--fallback-index-url", mirror.url,
                "pipff-alpha>=2", env=env,
            )  # fmt: skip
        assert "/simple/pipff-alpha/" in mirror.requested()
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv)["pipff-alpha"] == "2.0"


def test_a_mirror_request_carries_nothing_of_the_primarys(
    template: Path, tmp_path: Path, index: IndexServer, dists: ProjectSet, env: dict[str, str]
) -> None:
    """The primary's password never reaches the mirror, not even across a same-host redirect on
    the mirror; the mirror's own credentials go to its first hop only; and the mirror is asked
    by the session's proxy rules for its own URL (NO_PROXY), not through the primary's proxy."""
    mirror = IndexServer(_link(dists, tmp_path / "mirror"), host="localhost").start()
    mirror.redirects["/simple/pipff-gamma/"] = "/simple/pipff-gamma/?moved=1"
    primary_basic = base64.b64encode(f"user:{SECRET}".encode()).decode()
    mirror_basic = base64.b64encode(b"mirror-user:mirror-pass").decode()
    with FailingProxy(503) as proxy:
        proxied = dict(env, http_proxy=proxy.url, no_proxy="localhost")
        primary = f"http://user:{SECRET}@127.0.0.1:{index.port}/simple/"
        mirror_url = f"http://mirror-user:mirror-pass@localhost:{mirror.port}/simple/"
        venv = clone_venv(template, tmp_path / "v")
        index.stop()
        try:
            result = venv.pipff(
                "install", "-i", primary, "--fallback-index-url", mirror_url, "pipff-gamma",
                env=proxied,
            )  # fmt: skip
        finally:
            mirror.stop()
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == {"pipff-gamma": "1.0"}
    assert all("localhost" not in target for _, target in proxy.requests), proxy.requests
    seen = mirror.headers_seen
    assert seen, "the mirror was never asked"
    for path, headers in seen:
        values = " ".join(headers.values())
        assert SECRET not in values and primary_basic not in values, (path, headers)
    auth = {path: headers.get("Authorization") for path, headers in seen}
    assert auth["/simple/pipff-gamma/"] == f"Basic {mirror_basic}", auth
    assert auth["/simple/pipff-gamma/?moved=1"] is None, auth  # no credentials across a redirect


def test_the_primarys_cookies_never_reach_a_mirror(
    template: Path, tmp_path: Path, dists: ProjectSet, env: dict[str, str]
) -> None:
    """The primary sets a cookie, then dies mid-run; the mirror (another host) gets no cookie."""
    from tests.test_faults import FlakyIndex

    primary = FlakyIndex(_link(dists, tmp_path / "primary")).start()
    primary.set_cookie = "primary-session=PRIMARY-COOKIE"
    mirror = IndexServer(_link(dists, tmp_path / "mirror"), host="localhost").start()
    try:
        primary.fail_after(2)  # pipff-gamma's page and metadata (and the cookie), then it dies
        venv = clone_venv(template, tmp_path / "v")
        result = venv.pipff(
            "install", "--dry-run", "-i", primary.url,
            "--fallback-index-url", mirror.url, "pipff-gamma", "pipff-zeta==1.0", env=env,
        )  # fmt: skip
    finally:
        primary.settle()
        primary.stop()
        mirror.stop()
    assert result.returncode == 0, result.describe()
    assert mirror.headers_seen, result.describe()
    cookies = [h for _, h in mirror.headers_seen if "PRIMARY-COOKIE" in str(h)]
    assert not cookies, mirror.headers_seen


@pytest.fixture
def own(dists: ProjectSet, tmp_path: Path) -> Iterator[IndexServer]:
    view = _link(dists, tmp_path / "own")
    with IndexServer(view, yanked=dists.yanked) as server:
        yield server


# -- redirects, identity, secrets -----------------------------------------------------------------


def test_a_file_behind_a_redirect_works_offline(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """Artifactory, GitLab, CodeArtifact and S3-backed indexes answer a file's link with a 302
    to a CDN or a pre-signed URL; offline, the link itself must resolve to the recorded body."""
    index.cdn_redirects = True
    online = clone_venv(template, tmp_path / "online")
    online.pipff("install", "-i", index.url, "pipff-gamma", env=env).check()
    assert any(path.startswith("/cdn/") for _, path in index.requests)
    offline = clone_venv(template, tmp_path / "offline")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = offline.pipff(
            "install", "-i", index.url, "--fallback-report", report, "pipff-gamma", env=env
        )
    assert result.returncode == 0, result.describe()
    assert pipff_versions(offline) == {"pipff-gamma": "1.0"}
    # A pre-signed URL's signature is a credential: never stored, never reported.
    store = Path(env["PIP_CACHE_DIR"]) / "pip-ff"
    assert not [p for p in store.rglob("*") if p.is_file() and b"signature=" in p.read_bytes()]
    assert "signature=" not in report.read_text()


def test_a_record_made_with_credentials_serves_only_those_credentials(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    index.credentials = ("alice", SECRET)
    alice = f"http://alice:{SECRET}@127.0.0.1:{index.port}/simple/"
    mallory = f"http://mallory:guess@127.0.0.1:{index.port}/simple/"
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", alice, "pipff-gamma", env=env).check()
    control = clone_venv(template, tmp_path / "control")
    refused_online = control.pipff("install", "-i", mallory, "pipff-gamma", env=env)
    assert refused_online.returncode != 0, refused_online.describe()  # 401 online
    venv = clone_venv(template, tmp_path / "mallory")
    with outage("refused", index):
        result = venv.pipff("install", "-i", mallory, "pipff-gamma", env=env)
        assert result.returncode != 0, result.describe()
        assert "pipff-gamma" not in pipff_versions(venv)
        again = clone_venv(template, tmp_path / "alice")
        ok = again.pipff("install", "-i", alice, "pipff-gamma", env=env)
    assert ok.returncode == 0, ok.describe()
    store = Path(env["PIP_CACHE_DIR"]) / "pip-ff"
    written = b"".join(p.read_bytes() for p in store.rglob("*.json"))
    assert SECRET.encode() not in written and b"alice" not in written


def test_fallback_index_credentials_never_reach_a_child_process(
    template: Path, tmp_path: Path, own: IndexServer, env: dict[str, str]
) -> None:
    """A build backend runs in a process pip starts: it must not find the mirror's password in
    its environment (pip-ff used to export it in PIPFF_FALLBACK_INDEX_URL)."""
    dump = tmp_path / "backend-env.json"
    backend = (
        "import json, os\n"
        "with open(os.environ['PIPFF_TEST_ENV_DUMP'], 'w') as f:\n"
        "    json.dump(dict(os.environ), f)\n"
        "from pipff_tinybackend import *\n"
    )
    build_wheel(own.dist_dir, "pipff-envbackend", "1.0", modules={"pipff_envbackend.py": backend})
    build_sdist(
        own.dist_dir,
        "pipff-envdump",
        "1.0",
        build_requires=("pipff-tinybackend", "pipff-envbackend"),
        build_backend="pipff_envbackend",
    )
    mirror = f"http://mirror-user:{SECRET}@127.0.0.1:{closed_port_url().rsplit(':', 1)[1]}/"
    venv = clone_venv(template, tmp_path / "v")
    result = venv.pipff(
        "install", "-i", own.url, "--fallback-index-url", mirror, "pipff-envdump",
        env=dict(env, PIPFF_TEST_ENV_DUMP=str(dump)),
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    child = json.loads(dump.read_text())
    assert os.environ.get("PIPFF_TEST_ENV_DUMP") is None
    assert not [k for k, v in child.items() if SECRET in v], sorted(child)
