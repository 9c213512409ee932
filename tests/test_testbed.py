"""Self-tests of the test bed, driving PLAIN pip (``python -m pip``): they pass before pip-ff
does anything, and show that every outage the suite uses really takes the index away."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import ssl
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from testbed import (
    OUTAGES,
    BlackHoleServer,
    CertificateAuthority,
    FailingProxy,
    IndexServer,
    ProjectSet,
    StallServer,
    ToolWheels,
    Venv,
    build_wheel,
    closed_port_url,
    isolated_env,
    netns_prefix,
    outage,
    standard_projects,
    wait_for_port_closed,
)

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
INSTALL = ("install", "--retries", "0", "--timeout", "10")
OUTAGE = ("install", "--retries", "0", "--timeout", "1")
NO_VERSIONS = "(from versions: none)"


def http_get(
    url: str, headers: dict[str, str] | None = None, *, cafile: Path | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One GET, no redirects followed, no proxies: (status, headers, body)."""
    parts = urlsplit(url)
    assert parts.hostname in ("127.0.0.1", "localhost", "::1"), url
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path or "/", headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def http_cache_entries(cache_dir: Path) -> list[Path]:
    """Files in pip's HTTP cache (``http-v2`` since pip 23.3, ``http`` before)."""
    return [p for name in ("http-v2", "http") for p in (cache_dir / name).rglob("*") if p.is_file()]


# -- distributions -------------------------------------------------------------------------------


def test_wheel_is_valid(tmp_path: Path) -> None:
    wheel = build_wheel(
        tmp_path,
        "Pipff-Demo",
        "3.1",
        requires=["pipff-beta>=1.0"],
        extras={"fast": ["pipff-gamma", 'pipff-delta; python_version >= "3"']},
        requires_python=">=3.9",
    )
    assert wheel.name == "pipff_demo-3.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "pipff_demo/__init__.py" in names
        assert archive.read("pipff_demo/__init__.py") == b'__version__ = "3.1"\n'
        metadata = archive.read("pipff_demo-3.1.dist-info/METADATA").decode()
        record = archive.read("pipff_demo-3.1.dist-info/RECORD").decode()
        for line in record.splitlines():
            path, digest, size = line.rsplit(",", 2)
            if path.endswith("RECORD"):
                assert digest == size == ""
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)
        assert len(record.splitlines()) == len(names)
    assert "Metadata-Version: 2.1\n" in metadata
    assert "Requires-Python: >=3.9\n" in metadata
    assert "Requires-Dist: pipff-beta>=1.0\n" in metadata
    assert "Provides-Extra: fast\n" in metadata
    assert 'Requires-Dist: pipff-gamma; extra == "fast"\n' in metadata
    assert 'Requires-Dist: pipff-delta; (python_version >= "3") and extra == "fast"\n' in metadata
    # Deterministic: the same inputs give the same bytes.
    first = wheel.read_bytes()
    assert (
        build_wheel(
            tmp_path / "same",
            "Pipff-Demo",
            "3.1",
            requires=["pipff-beta>=1.0"],
            extras={"fast": ["pipff-gamma", 'pipff-delta; python_version >= "3"']},
            requires_python=">=3.9",
        ).read_bytes()
        == first
    )


# -- the index -----------------------------------------------------------------------------------


def test_index_json(index: IndexServer) -> None:
    status, headers, body = http_get(index.url + "pipff-alpha/", {"Accept": PIP_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    page = json.loads(body)
    assert page["meta"] == {"api-version": "1.0"}
    assert page["name"] == "pipff-alpha"
    files = {f["filename"]: f for f in page["files"]}
    assert set(files) == {f"pipff_alpha-{v}-py3-none-any.whl" for v in ("1.0", "1.1", "2.0")}
    entry = files["pipff_alpha-2.0-py3-none-any.whl"]
    assert entry["yanked"] is False
    file_status, _, wheel = http_get(entry["url"])
    assert file_status == 200
    assert hashlib.sha256(wheel).hexdigest() == entry["hashes"]["sha256"]
    meta_status, _, metadata = http_get(entry["url"] + ".metadata")
    assert meta_status == 200
    assert hashlib.sha256(metadata).hexdigest() == entry["core-metadata"]["sha256"]
    assert entry["data-dist-info-metadata"] == entry["core-metadata"]  # PyPI's spelling in JSON
    assert "dist-info-metadata" not in entry  # pip 23.0 crashes on it (PEP 714)
    assert b"Requires-Dist: pipff-beta>=1.0" in metadata

    epsilon = json.loads(http_get(index.url + "pipff-epsilon/", {"Accept": PIP_ACCEPT})[2])
    by_name = {f["filename"]: f for f in epsilon["files"]}
    assert by_name["pipff_epsilon-2.0-py3-none-any.whl"]["requires-python"] == ">=4"
    assert "requires-python" not in by_name["pipff_epsilon-1.0-py3-none-any.whl"]
    zeta = json.loads(http_get(index.url + "pipff-zeta/", {"Accept": PIP_ACCEPT})[2])
    yanked = {f["filename"]: f["yanked"] for f in zeta["files"]}
    assert yanked == {
        "pipff_zeta-1.0-py3-none-any.whl": False,
        "pipff_zeta-1.1-py3-none-any.whl": True,
    }
    root = json.loads(http_get(index.url, {"Accept": PIP_ACCEPT})[2])
    assert {"name": "pipff-sdistonly"} in root["projects"]


def test_index_html(index: IndexServer) -> None:
    status, headers, body = http_get(index.url + "pipff-epsilon/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert 'data-requires-python="&gt;=4"' in page
    assert "/files/pipff_epsilon-2.0-py3-none-any.whl#sha256=" in page
    assert 'data-core-metadata="sha256=' in page
    assert 'data-dist-info-metadata="sha256=' in page
    zeta = http_get(index.url + "pipff-zeta/", {"Accept": "text/html"})[2].decode()
    assert zeta.count("data-yanked") == 1
    sdist = http_get(index.url + "pipff-sdistonly/")[2].decode()
    assert "pipff_sdistonly-1.0.tar.gz#sha256=" in sdist
    assert "data-core-metadata" not in sdist  # no PEP 658 metadata for sdists
    assert b'href="/simple/pipff-alpha/"' in http_get(index.url)[2]


def test_index_without_metadata(dists: ProjectSet) -> None:
    with IndexServer(dists.dist_dir, metadata=False) as server:
        page = http_get(server.url + "pipff-alpha/")[2].decode()
        assert "data-core-metadata" not in page
        assert http_get(server.file_url("pipff_alpha-2.0-py3-none-any.whl") + ".metadata")[0] == 404


def test_index_redirects_and_404(index: IndexServer) -> None:
    status, headers, _ = http_get(index.url + "Pipff_Alpha/")
    assert status == 301
    assert headers["Location"] == "/simple/pipff-alpha/"
    status, headers, _ = http_get(index.url + "pipff-alpha")
    assert (status, headers["Location"]) == (301, "/simple/pipff-alpha/")
    assert http_get(index.url + "pipff-nonexistent/")[0] == 404
    assert http_get(index.file_url("pipff_nonexistent-1.0-py3-none-any.whl"))[0] == 404
    assert http_get(index.file_url("pipff_sdistonly-1.0.tar.gz") + ".metadata")[0] == 404
    assert ("GET", "/simple/Pipff_Alpha/") in index.requests
    # The index reads its directory at request time: a test may publish a release.
    assert http_get(index.url + "pipff-late/")[0] == 404
    build_wheel(index.dist_dir, "pipff-late", "0.1")
    assert http_get(index.url + "pipff-late/")[0] == 200


def test_cache_headers(index: IndexServer, pypi_index: IndexServer) -> None:
    for url in (index.url + "pipff-alpha/", index.file_url("pipff_gamma-1.0-py3-none-any.whl")):
        _, headers, _ = http_get(url)
        assert headers["Cache-Control"] is None
        assert headers["ETag"] is None
        assert headers["Vary"] is None

    _, headers, _ = http_get(pypi_index.url + "pipff-alpha/", {"Accept": PIP_ACCEPT})
    assert headers["Cache-Control"] == "max-age=600, public"
    assert headers["Vary"] == "Accept, Accept-Encoding"
    etag = headers["ETag"]
    assert etag
    status, again, body = http_get(
        pypi_index.url + "pipff-alpha/", {"Accept": PIP_ACCEPT, "If-None-Match": etag}
    )
    assert (status, body, again["ETag"]) == (304, b"", etag)
    _, html_headers, _ = http_get(pypi_index.url + "pipff-alpha/")
    assert html_headers["ETag"] != etag  # one ETag per representation

    wheel_url = pypi_index.file_url("pipff_gamma-1.0-py3-none-any.whl")
    _, headers, _ = http_get(wheel_url)
    assert headers["Cache-Control"] == "max-age=365000000, immutable, public"
    assert http_get(wheel_url, {"If-None-Match": headers["ETag"]})[0] == 304


def test_stop_refuses_and_start_rebinds_same_port(index: IndexServer) -> None:
    assert http_get(index.url)[0] == 200
    port = index.port
    index.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    index.start()
    assert index.port == port
    assert http_get(index.url)[0] == 200
    assert index.connections >= 2
    # A connection kept alive across stop() is closed too: nothing of the index answers.
    conn = http.client.HTTPConnection("127.0.0.1", index.port, timeout=5)
    conn.request("GET", "/simple/")
    assert conn.getresponse().read()
    index.stop()
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/simple/")
        conn.getresponse().read()
    conn.close()
    assert wait_for_port_closed("127.0.0.1", port)


def test_the_index_answers_without_waiting_for_the_client_s_ack(index: IndexServer) -> None:
    """TCP_NODELAY on the index's side of every connection, as urllib3 has on pip's side:
    without it an answer's body, written after its headers, waited for the client's delayed
    ACK on a kept-alive connection, about 40 ms per page that every test and benchmark paid."""
    conn = http.client.HTTPConnection("127.0.0.1", index.port, timeout=5)
    try:
        conn.request("GET", "/simple/")
        assert conn.getresponse().read()
        server_side = list(index._open)  # the handler's socket, still open: kept alive
        assert server_side
        for sock in server_side:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        conn.close()


def test_a_stopped_index_keeps_its_port(index: IndexServer) -> None:
    """No other server (another xdist worker's) can take the port and answer for the outage."""
    index.stop()
    other = socket.socket()
    with pytest.raises(OSError):
        other.bind(("127.0.0.1", index.port))
    other.close()
    index.release_port()
    other = socket.socket()
    other.bind(("127.0.0.1", index.port))
    other.close()


# -- plain pip in a fresh venv -------------------------------------------------------------------


def test_isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://example.invalid/simple/")
    monkeypatch.setenv("PIPFF", "1")
    monkeypatch.setenv("PIPFF_MODE", "x")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "*")
    env = isolated_env(tmp_path / "c", PIPFF="1")
    assert "PIP_INDEX_URL" not in env
    assert "PIPFF_MODE" not in env
    assert env["PIPFF"] == "1"
    assert "HTTPS_PROXY" not in env
    assert "no_proxy" not in env
    assert env["PIP_CONFIG_FILE"] == __import__("os").devnull
    assert env["PIP_CACHE_DIR"] == str(tmp_path / "c")
    assert env["PIP_NO_INPUT"] == env["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_venv_clone(venv: Venv, template: Path, tool_wheels: ToolWheels) -> None:
    assert tool_wheels.is_complete(), tool_wheels.missing()
    installed = venv.installed()
    assert installed["pip"] == tool_wheels.pip_version
    assert "pip-offline-fallback" in installed
    assert venv.python.parent.parent == venv.path
    # No configuration file is read at all: only our own PIP_* variables are configuration.
    config = venv.pip("config", "list").check().stdout.splitlines()
    assert config and all(line.startswith(":env:.") for line in config), config
    assert not any(key in line for line in config for key in ("index", "find-links", "cert"))
    venv.run("-c", "import pip_offline_fallback").check()
    # A clone is independent of its template.
    venv.pip("uninstall", "-y", "pip-offline-fallback").check()
    assert "pip-offline-fallback" not in venv.installed()
    assert "pip-offline-fallback" in Venv(template).installed()
    # pip's package is hard-linked (clone_venv): pip installing over its own files (as
    # --ignore-installed or an upgrade does) writes new files, never into the template's.
    relative = venv.site_packages.relative_to(venv.path) / "pip" / "__init__.py"
    assert (venv.path / relative).samefile(template / relative)
    venv.pip(
        "install", "--no-deps", "--no-index", "--ignore-installed", tool_wheels.pip_wheel
    ).check()
    assert not (venv.path / relative).samefile(template / relative)


def test_stale_project_wheel_is_rebuilt(
    tmp_path: Path, tool_wheels: ToolWheels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project wheel in $PIPFF_TEST_WHEELS that wasn't built from this tree is never used.

    A wheel from an older tree (here: one with a planted module) would test old code; locate()
    sees that its stamp doesn't match the working tree and rebuilds it.
    """
    stale_dir = tmp_path / "wheels"
    stale_dir.mkdir()
    for wheel in tool_wheels.path.glob("*.whl"):
        if wheel.name.startswith("pip_offline_fallback-"):
            continue
        (stale_dir / wheel.name).symlink_to(wheel)
    project = tool_wheels.project_wheel()
    assert project is not None
    stale = stale_dir / project.name
    with zipfile.ZipFile(project) as source, zipfile.ZipFile(stale, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr("pip_offline_fallback/planted_old_code.py", "OLD = True\n")
    (stale_dir / "pip_offline_fallback.sources").write_text("0" * 64 + "\n")
    monkeypatch.setenv("PIPFF_TEST_WHEELS", str(stale_dir))
    located = ToolWheels.locate()
    assert located.path == stale_dir
    rebuilt = located.project_wheel()
    assert rebuilt is not None
    with zipfile.ZipFile(rebuilt) as archive:
        assert "pip_offline_fallback/planted_old_code.py" not in archive.namelist()
    # Once rebuilt, the stamp matches and nothing is rebuilt again.
    mtime = rebuilt.stat().st_mtime_ns
    assert ToolWheels.locate().project_wheel() == rebuilt
    assert rebuilt.stat().st_mtime_ns == mtime


def test_pip_installs_what_the_index_serves(venv: Venv, index: IndexServer) -> None:
    """Dependencies, an extra, a yanked release and one for Python >= 4, as pip reads them."""
    reqs = ("pipff-alpha==2.0", "pipff-beta[fast]", "pipff-zeta", "pipff-epsilon")
    venv.pip(*INSTALL, "--index-url", index.url, *reqs).check()
    installed = venv.installed()
    assert installed["pipff-alpha"] == "2.0"
    assert installed["pipff-beta"] == "1.5"
    assert "pipff-never" not in installed
    assert installed["pipff-gamma"] == "1.0"  # the extra
    assert installed["pipff-zeta"] == "1.0"  # 1.1 is yanked
    assert installed["pipff-epsilon"] == "1.0"  # 2.0 requires Python >= 4
    version = venv.run("-c", "import pipff_alpha; print(pipff_alpha.__version__)").check()
    assert version.stdout.strip() == "2.0"


def test_pip_builds_sdist_with_backend_from_index(venv: Venv, index: IndexServer) -> None:
    venv.pip(*INSTALL, "--index-url", index.url, "pipff-sdistonly").check()
    installed = venv.installed()
    assert installed["pipff-sdistonly"] == "1.0"
    assert installed["pipff-gamma"] == "1.0"
    assert "pipff-tinybackend" not in installed  # only in the build environment
    assert "/files/pipff_tinybackend-1.0-py3-none-any.whl" in index.requested("/files/")


def test_pip_caches_only_https_answers_with_cache_headers(
    venv: Venv,
    dists: ProjectSet,
    pypi_index: IndexServer,
    https_index: IndexServer,
    ca: CertificateAuthority,
    cache_dir: Path,
) -> None:
    """What pip-ff's fallback can find in pip's HTTP cache depends on it: pip caches only https
    answers, and only with cache headers (the https index serves only with its CA)."""
    venv.pip(*INSTALL, "--index-url", pypi_index.url, "pipff-gamma").check()
    assert http_cache_entries(cache_dir) == [], "plain http, even with PyPI's headers"
    with IndexServer(dists.dist_dir, https=ca, cache_headers="none") as server:
        assert server.ca_bundle is not None
        bundle = server.ca_bundle
        venv.pip(*INSTALL, "--index-url", server.url, "--cert", bundle, "pipff-beta==1.0").check()
    assert venv.installed()["pipff-beta"] == "1.0"
    assert http_cache_entries(cache_dir) == [], "https without cache headers"
    assert https_index.url.startswith("https://localhost:")
    assert https_index.ca_bundle is not None
    with pytest.raises(ssl.SSLError):
        http_get(https_index.url)  # not trusted without the CA
    bundle = https_index.ca_bundle
    venv.pip(*INSTALL, "--index-url", https_index.url, "--cert", bundle, "pipff-alpha").check()
    assert venv.installed()["pipff-alpha"] == "2.0"
    assert http_cache_entries(cache_dir), "PyPI's cache headers over https should be cached"


def test_pip_truncated_download_fails(venv: Venv, dists: ProjectSet) -> None:
    with IndexServer(dists.dist_dir, drop_files_after=100) as server:
        result = venv.pip(*INSTALL, "--index-url", server.url, "pipff-gamma")
    assert result.returncode != 0, result.describe()
    assert "pipff-gamma" not in venv.installed()


# -- plain pip against each outage ---------------------------------------------------------------
# pip -vv prints why each index page could not be fetched ("Could not fetch URL ...: <cause>"):
# the tests check the cause, so an outage can't pass for the wrong reason.


def _assert_no_versions(
    venv: Venv,
    *args: str,
    cause: str | tuple[str, ...],
    not_cause: tuple[str, ...] = (),
    max_seconds: float = 30,
) -> None:
    """Plain pip finds no version, and its first fetch error names ``cause`` (any of them;
    the wording changed across pip versions) and none of ``not_cause``."""
    causes = (cause,) if isinstance(cause, str) else cause
    result = venv.pip(*OUTAGE, "-vv", *args, "pipff-alpha", timeout=120)
    assert result.returncode != 0, result.describe()
    assert NO_VERSIONS in result.output, result.describe()
    fetch_errors = [line for line in result.output.splitlines() if "Could not fetch URL" in line]
    assert fetch_errors, result.describe()
    assert any(c in fetch_errors[0] for c in causes), result.describe()
    assert not any(c in fetch_errors[0] for c in not_cause), result.describe()
    assert result.elapsed < max_seconds, result.describe()
    assert "pipff-alpha" not in venv.installed()


# The kinds the suite's tests use (testbed.outage), each on the index's own port, and the cause
# plain pip gives for each.
OUTAGE_CAUSES: dict[str, tuple[str, ...]] = {
    "refused": ("Connection refused",),
    # pip < 26: urllib3's message; pip 26: its own (which for a connect timeout adds
    # "(while establishing a connection)").
    "stall": ("Read timed out", "didn't respond within"),
    "blackhole": ("ConnectTimeoutError", "while establishing a connection"),
    # pip retries 500/503/520/527, and 502 since pip 24; other statuses are HTTP errors.
    "proxy-502": ("502 Server Error", "too many 502 error responses"),
    "proxy-503": ("too many 503 error responses",),
    "proxy-504": ("504 Server Error", "too many 504 error responses"),
}
CONNECT_TIMEOUT = ("ConnectTimeoutError", "while establishing a connection")


@pytest.mark.parametrize("kind", OUTAGES)
def test_outage_of_the_index(venv: Venv, index: IndexServer, kind: str) -> None:
    """Each outage the suite stages on the index's own URL, as plain pip meets it."""
    assert http_get(index.url)[0] == 200
    index.clear_log()
    with outage(kind, index) as args:
        not_cause = CONNECT_TIMEOUT if kind == "stall" else ()
        _assert_no_versions(
            venv, "--index-url", index.url, *args, cause=OUTAGE_CAUSES[kind], not_cause=not_cause
        )
    assert index.requests == []  # nothing got through


def test_outage_closed_port(venv: Venv) -> None:
    _assert_no_versions(venv, "--index-url", closed_port_url(), cause="Connection refused")


def test_outage_stall(venv: Venv) -> None:
    with StallServer() as stall:
        _assert_no_versions(
            venv,
            "--index-url",
            stall.url,
            cause=OUTAGE_CAUSES["stall"],
            not_cause=CONNECT_TIMEOUT,
        )
    assert stall.connections >= 1


def test_outage_black_hole(venv: Venv) -> None:
    with BlackHoleServer() as hole:
        _assert_no_versions(
            venv,
            "--index-url",
            hole.url,
            cause=CONNECT_TIMEOUT,
        )


def test_outage_proxy_hangs_up(venv: Venv, index: IndexServer) -> None:
    with FailingProxy(refuse_connect=True) as proxy:
        _assert_no_versions(
            venv,
            "--index-url",
            index.url,
            "--proxy",
            proxy.url,
            cause="Remote end closed connection without response",
        )
    assert proxy.requests and proxy.requests[0] == ("GET", index.url + "pipff-alpha/")
    assert index.requests == []


def test_outage_failing_proxy_https(venv: Venv, https_index: IndexServer) -> None:
    assert https_index.ca_bundle is not None
    with FailingProxy(502) as proxy:
        _assert_no_versions(
            venv,
            "--index-url",
            https_index.url,
            "--cert",
            str(https_index.ca_bundle),
            "--proxy",
            proxy.url,
            cause="Tunnel connection failed: 502",
        )
    assert proxy.requests[0] == ("CONNECT", f"localhost:{https_index.port}")
    assert https_index.requests == []


@pytest.mark.netns
def test_outage_network_namespace(venv: Venv, index: IndexServer) -> None:
    """In a fresh network namespace even loopback is gone: the index (outside) is unreachable."""
    command = [
        *netns_prefix(),
        str(venv.python),
        "-m",
        "pip",
        *OUTAGE,
        "-vv",
        "--index-url",
        index.url,
        "pipff-alpha",
    ]
    result = subprocess.run(
        command, env=venv.env, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert NO_VERSIONS in output
    assert "Network is unreachable" in output
    assert index.requests == []


def test_standard_projects_rebuild_identically(tmp_path: Path, dists: ProjectSet) -> None:
    again = standard_projects(tmp_path)
    for name in dists.filenames:
        assert (again.dist_dir / name).read_bytes() == (dists.dist_dir / name).read_bytes(), name
