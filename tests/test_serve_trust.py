"""``pip-ff serve``: what it hands out, and to whom (issue 33 items 1-5, issue 32 item 5).

Any local user can connect to serve's loopback port, and serve asks the index with its owner's
credentials and reads with its owner's rights. These tests run the real command against the
test bed's index (tests/serving.py) and check that nothing private, local or unverified is
handed out.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from testbed import IndexServer
from tests.serving import Served, serving

JSON = "application/vnd.pypi.simple.v1+json"


class Site:
    """A loopback HTTP server answering fixed paths: path -> (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Mapping[str, str], bytes]] = {}
        self.requested: list[str] = []
        routes, requested = self.routes, self.requested

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                requested.append(self.path)
                status, headers, body = routes.get(
                    self.path, (404, {"Content-Type": "text/plain"}, b"Not Found\n")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def page(self, project: str, files: list[tuple[str, str, bytes]]) -> None:
        """``project``'s PEP 691 page: (filename, url, the bytes whose sha256 it lists)."""
        document = {
            "meta": {"api-version": "1.0"},
            "name": project,
            "files": [
                {"filename": n, "url": u, "hashes": {"sha256": hashlib.sha256(b).hexdigest()}}
                for n, u, b in files
            ],
        }
        body = json.dumps(document).encode()
        self.routes[f"/simple/{project}/"] = (200, {"Content-Type": JSON}, body)

    def file(self, path: str, body: bytes) -> None:
        self.routes[path] = (200, {"Content-Type": "application/octet-stream"}, body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    try:
        yield served
    finally:
        served.close()


def _get(served: Served, path: str) -> tuple[int, bytes] | None:
    """A file request's status and body; None when the connection broke before the body
    was whole (a short read)."""
    try:
        answer = served.request(path)
    except (http.client.IncompleteRead, ConnectionError):
        return None
    return answer.status, answer.body


def _record_holds(env: Mapping[str, str], data: bytes) -> bool:
    blobs = Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "v1" / "blobs"
    return any(p.is_file() and data in p.read_bytes() for p in blobs.rglob("*"))


def _as_nobody(url: str) -> int | None:
    """The HTTP status user ``nobody`` gets for ``url`` (None: can't run as nobody here)."""
    runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() != 0 or runuser is None or python is None:
        return None
    code = (
        "import sys, urllib.request, urllib.error\n"
        "try:\n"
        "    print(urllib.request.urlopen(sys.argv[1], timeout=60).status)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
    )
    done = subprocess.run(
        [runuser, "-u", "nobody", "--", python, "-c", code, url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    if done.returncode != 0:
        return None
    return int(done.stdout.strip())


# -- 1. a token whenever the index is asked with credentials ------------------------------------


def test_a_user_name_only_index_url_gets_a_token(index: IndexServer, env: dict[str, str]) -> None:
    """``-i http://TOKEN@host/simple/`` (pip sends ``TOKEN:``): serve's URL carries a token, and
    a request without it (another local user's) gets 403."""
    index.credentials = ("tok3n-as-user", "")
    private = index.url.replace("http://", "http://tok3n-as-user@")
    with serving(env, "-i", private) as served:
        assert served.prefix, served.url  # a token segment
        assert served.request("pipff-alpha/", accept=JSON).status == 200
        assert served.request("/simple/pipff-alpha/").status == 403
        wheel = "/files/pipff-alpha/pipff_alpha-1.0-py3-none-any.whl"
        assert served.request(wheel).status == 403
        as_nobody = _as_nobody(served.origin + wheel)
        if as_nobody is not None:  # another user of this machine, for real
            assert as_nobody == 403
        token = served.prefix.strip("/")
    assert "tok3n-as-user" not in served.stderr and token not in served.stderr


def test_options_pip_cannot_parse_are_named_without_credentials(env: dict[str, str]) -> None:
    """The line about options pip can't parse names them as given, less a URL's credentials:
    it reaches serve.log and, through pip-ff run, the caller's terminal or CI log."""
    result = subprocess.run(
        [sys.executable, "-m", "pip_offline_fallback", "serve", "--port", "0",
         "-i", "http://user:s3cret-pw@127.0.0.1:9/simple/", "--no-such-pip-option"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2, result
    assert "pip can't parse these options: -i http://127.0.0.1:9/simple/" in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_a_failing_credential_check_means_a_token() -> None:
    """When the check itself fails, serve can't know the index is public: it takes a token."""
    from pip_offline_fallback.serve.credentials import asks_with_credentials

    class Broken:
        auth = None

        def prepare_request(self, request: object) -> object:
            raise RuntimeError("keyring exploded")

    assert asks_with_credentials(Broken(), "http://127.0.0.1:9/simple/")
    assert asks_with_credentials(Broken(), "http://user@127.0.0.1:9/simple/")


def test_a_session_that_would_ask_keyring_means_a_token() -> None:
    """pip asks keyring only after a 401 (with ``--keyring-provider import`` or ``subprocess``):
    no prepared request shows it, so such a session counts as sending credentials."""
    from pip_offline_fallback.serve.credentials import asks_with_credentials

    class Prepared:
        def __init__(self) -> None:
            self.headers: dict[str, str] = {}

    class Auth:
        use_keyring = True

    class Session:
        auth = Auth()

        def prepare_request(self, request: object) -> Prepared:
            return Prepared()

    assert asks_with_credentials(Session(), "http://127.0.0.1:9/simple/")
    Auth.use_keyring = False
    assert not asks_with_credentials(Session(), "http://127.0.0.1:9/simple/")


def _pip_auth_session(index_urls: list[str]) -> Any:
    """A session that adds credentials as pip's does: requests' Session with pip's own
    MultiDomainBasicAuth, without prompts (PipSession adds adapters and a User-Agent, whose
    making runs ``rustc --version``; it prepares requests as requests does)."""
    from pip._internal.network.auth import MultiDomainBasicAuth
    from pip._vendor import requests

    session = requests.Session()
    session.auth = MultiDomainBasicAuth(prompting=False, index_urls=index_urls)
    return session


def _counting(session: Any) -> list[str]:
    """The URLs ``session`` prepares a request for, from now on."""
    prepared: list[str] = []
    prepare = session.prepare_request

    def counted(request: Any) -> Any:
        prepared.append(request.url)
        return prepare(request)

    session.prepare_request = counted
    return prepared


def test_a_pages_files_get_pip_sessions_own_credentials_asked_once_per_scope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An offline page asks which credentials go with each file (the record answers only the
    same credentials): once per origin and matching index, not once per file, and with
    exactly the answers pip's session gives file by file (URL credentials, the index's, two
    indexes on one host, netrc, what pip keeps per host as it goes)."""
    import base64

    from pip_offline_fallback.serve.credentials import PageAuthorizations, authorization

    netrc = tmp_path / "netrc"
    netrc.write_text("machine netrc.invalid login carol password pw3\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    indexes = [
        "http://alice:s3cret@private.invalid/simple/",
        "http://dave:pw4@private.invalid/team/simple/",
        "http://public.invalid/simple/",
    ]
    urls = [f"http://private.invalid/files/a-{i}.whl" for i in range(20)]
    urls += [f"http://cdn.invalid/packages/{i:02x}/{i:040x}/b-{i}.whl" for i in range(20)]
    urls += [f"http://private.invalid/team/files/t-{i}.whl" for i in range(5)]
    urls += ["http://private.invalid/simple/a/", "http://public.invalid/files/p.whl"]
    urls += [f"http://netrc.invalid/x-{i}.whl" for i in range(5)]
    urls += ["http://cdn2.invalid/before.whl", "http://bob:pw2@cdn2.invalid/c.whl"]
    urls += [f"http://cdn2.invalid/d-{i}.whl" for i in range(5)]
    direct = _pip_auth_session(indexes)
    expected = [authorization(direct, url) for url in urls]
    session = _pip_auth_session(indexes)
    prepared = _counting(session)
    answers = PageAuthorizations(session)
    assert [answers(url) for url in urls] == expected
    assert len(prepared) <= 12, prepared  # 62 files, on 7 hosts with 4 kinds of credentials

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    said = dict(zip(urls, expected))
    assert said["http://private.invalid/simple/a/"] == basic("alice", "s3cret")
    assert said["http://cdn.invalid/packages/00/" + "0" * 40 + "/b-0.whl"] is None
    assert said["http://netrc.invalid/x-4.whl"] == basic("carol", "pw3")
    assert said["http://cdn2.invalid/before.whl"] is None
    assert said["http://cdn2.invalid/d-4.whl"] == basic("bob", "pw2")  # pip keeps it per host
    assert said["http://public.invalid/files/p.whl"] is None


def test_an_offline_page_asks_credentials_only_for_the_files_held_locally() -> None:
    """Which credentials go with a file is asked only for a file some local source holds (the
    record answers only the same credentials): a page lists every version, an installer fetched
    a few, and working the header out cost more than the rest of an offline page (#34)."""
    import io
    import types

    from pip_offline_fallback.answers import Context, LocalAnswers
    from pip_offline_fallback.engine import Engine
    from pip_offline_fallback.outcomes import Source
    from pip_offline_fallback.pages import FileLink
    from pip_offline_fallback.sources import LocalBody

    held = "http://127.0.0.1:9/files/a-2.0-py3-none-any.whl"
    nobody = types.SimpleNamespace(has=lambda url: False)

    class Sources:
        wheelhouses = pip_caches = nobody

        def has(self, url: str) -> bool:
            return url == held

        def body(self, url: str, authorization: str | None) -> LocalBody | None:
            assert authorization == "Basic x"
            return LocalBody(io.BytesIO(b"wheel"), 5, Source.RECORD, 0.0, sha256="a" * 64)

    asked: list[str] = []

    def authorization(url: str) -> str | None:
        asked.append(url)
        return "Basic x"

    answers = LocalAnswers(Sources(), None, Context(), None)  # type: ignore[arg-type]
    engine: Any = types.SimpleNamespace(answers=answers)
    files = [
        FileLink(filename=url.rsplit("/", 1)[1], url=url, sha256="a" * 64)
        for url in [held.replace("2.0", v) for v in ("1.0", "1.1", "2.0", "2.1")]
    ]
    assert [f.url for f in Engine.offered(engine, files, authorization)] == [held]
    assert asked == [held]


def test_a_bug_in_the_credential_lookup_is_raised_and_a_bad_url_is_none(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Which credentials go with a URL: an unexpected error is a bug (raised under
    PIPFF_RAISE_BUGS, else said; no credentials: only what anyone may read is looked up), a
    URL requests can't prepare is no bug."""
    from pip_offline_fallback import bugs
    from pip_offline_fallback.serve.upstream import Upstream

    class Broken:
        auth = None

        def prepare_request(self, request: object) -> object:
            raise RuntimeError("a bug")

    broken: Any = Broken()
    upstream = Upstream.__new__(Upstream)  # only its session is asked
    upstream.session = broken
    monkeypatch.setenv(bugs.RAISE_VARIABLE, "1")
    with pytest.raises(RuntimeError, match="a bug"):
        upstream.authorization("http://127.0.0.1:9/files/a.whl")
    from pip_offline_fallback.serve.credentials import PageAuthorizations, authorization

    with pytest.raises(RuntimeError, match="a bug"):
        upstream.authorizations()("http://127.0.0.1:9/files/a.whl")
    session = _pip_auth_session(["http://alice:s3cret@127.0.0.1:9/simple/"])
    for url in ("http://", "http://[::1/a.whl", "nothing"):
        assert authorization(session, url) is None
        assert PageAuthorizations(session)(url) is None
    monkeypatch.delenv(bugs.RAISE_VARIABLE)
    with caplog.at_level("WARNING", logger="pip_offline_fallback"):
        assert authorization(broken, "http://127.0.0.1:9/files/a.whl") is None
    assert any("internal error" in r.getMessage() for r in caplog.records), caplog.records


def test_netrc_credentials_for_the_index_get_a_token(
    index: IndexServer, env: dict[str, str], tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    netrc.chmod(0o600)
    index.credentials = ("alice", "s3cret")
    with serving(dict(env, NETRC=str(netrc)), "-i", index.url) as served:
        assert served.prefix, served.url
        assert served.request("pipff-alpha/", accept=JSON).status == 200
        assert served.request("/simple/pipff-alpha/").status == 403


# -- 2. a page does not decide what serve reads --------------------------------------------------


def test_a_page_naming_a_local_file_or_another_local_service_gets_nothing(
    site: Site, env: dict[str, str], tmp_path: Path
) -> None:
    secret = b"SECRET-OF-SERVES-OWNER " * 10
    private = tmp_path / "private.whl"
    private.write_bytes(secret)
    private.chmod(0o600)
    other = Site()  # another service of this machine, on another loopback port
    try:
        service = b"ANOTHER-LOCAL-SERVICE " * 10
        other.file("/evil-2.0-py3-none-any.whl", service)
        site.file("/redirect/evil-3.0-py3-none-any.whl", b"")
        site.routes["/redirect/evil-3.0-py3-none-any.whl"] = (
            302,
            {"Location": f"{other.origin}/evil-2.0-py3-none-any.whl"},
            b"",
        )
        honest_bytes = b"PK-an-honest-file"
        site.file("/files/evil-4.0-py3-none-any.whl", honest_bytes)
        site.page(
            "evil",
            [
                ("evil-1.0-py3-none-any.whl", private.as_uri(), secret),
                ("evil-2.0-py3-none-any.whl", f"{other.origin}/evil-2.0-py3-none-any.whl", service),
                ("evil-3.0-py3-none-any.whl", "/redirect/evil-3.0-py3-none-any.whl", service),
                ("evil-4.0-py3-none-any.whl", "/files/evil-4.0-py3-none-any.whl", honest_bytes),
            ],
        )
        with serving(env, "-i", f"{site.origin}/simple/") as served:
            page = served.request("evil/", accept=JSON)
            assert page.status == 200
            listed = [f["filename"] for f in json.loads(page.body)["files"]]
            assert listed == ["evil-3.0-py3-none-any.whl", "evil-4.0-py3-none-any.whl"]
            for version in ("1.0", "2.0", "3.0", "3.0"):
                got = _get(served, f"/files/evil/evil-{version}-py3-none-any.whl")
                assert got is None or got[0] in (403, 404), got
                assert got is None or (secret not in got[1] and service not in got[1])
            honest = _get(served, "/files/evil/evil-4.0-py3-none-any.whl")
            assert honest == (200, honest_bytes)
        assert other.requested == []
        assert not _record_holds(env, secret) and not _record_holds(env, service)
        refused = [line for line in served.stderr.splitlines() if "not serving" in line]
        assert any("file:" in line for line in refused), served.stderr
        said = [line for line in served.stderr.splitlines() if "redirected to" in line]
        assert len(said) == 1, said  # once, though asked twice
        assert str(private) not in served.stderr  # a local path of serve's owner: not told
    finally:
        other.close()


def test_a_streamed_file_that_contradicts_the_page_never_arrives_whole(
    site: Site, env: dict[str, str]
) -> None:
    listed = os.urandom(700_000)
    sent = os.urandom(700_000)
    site.file("/files/mism-1.0-py3-none-any.whl", sent)
    site.page("mism", [("mism-1.0-py3-none-any.whl", "/files/mism-1.0-py3-none-any.whl", listed)])
    with serving(env, "-i", f"{site.origin}/simple/") as served:
        got = _get(served, "/files/mism/mism-1.0-py3-none-any.whl")
        assert got is None or (got[0] != 200 and sent not in got[1]), (got or (0,))[0]
        assert served.request("mism/", accept=JSON).status == 200  # serve still answers
    assert "does not match the index's sha256" in served.stderr
    assert "Traceback" not in served.stderr  # said in one line


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("file:///etc/shadow", True),
        ("ftp://files.example/x.whl", True),
        ("/relative/x.whl", True),
        ("http://127.0.0.1:9/x.whl", True),
        ("http://127.1:9/x.whl", True),
        ("http://2130706433:9/x.whl", True),
        ("http://0x7f.1:9/x.whl", True),
        ("http://0.0.0.0:9/x.whl", True),
        ("http://[::1]:9/x.whl", True),
        ("http://[::ffff:127.0.0.1]:9/x.whl", True),
        ("http://LocalHost.:9/x.whl", True),
        ("http://api.localhost/x.whl", True),
        ("http://127.0.0.1:8080/files/x.whl", False),  # the index's own origin
        ("http://LOCALHOST:8081/f/x.whl", False),  # a mirror's
        ("https://files.example/x.whl", False),
        ("http://10.1.2.3/x.whl", False),
    ],
)
def test_where_serve_fetches_files_from(url: str, refused: bool) -> None:
    from pip_offline_fallback.serve.origins import FilePolicy

    policy = FilePolicy(["http://127.0.0.1:8080/simple/", "http://localhost:8081/mirror/"])
    assert (policy.refusal(url) is not None) == refused, policy.refusal(url)


# -- 3. a project never seen, while the index is down: 404 ----------------------------------------


def test_an_unknown_project_offline_is_a_404_that_pip_takes_at_once(
    index: IndexServer, env: dict[str, str], tmp_path: Path
) -> None:
    """As devpi's offline mode answers: installers fail at once (pip: no 8 retries of a 503),
    and one with several indexes moves on. Said once per project per outage, in plain words."""
    with serving(env, "-i", index.url) as served:
        assert served.request("pipff-alpha/", accept=JSON).status == 200
        index.stop()
        assert served.request("pipff-alpha/", accept=JSON).status == 200  # recorded: local
        pip_env = dict(env, PIP_CACHE_DIR=str(tmp_path / "plain-pip-cache"))
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp_path / "d"),
             "-i", served.url, "pipff-gamma"],
            env=pip_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode != 0
        assert "pipff-gamma" in done.stderr and "Retrying" not in done.stderr, done.stderr
        again = served.request("pipff-gamma/", accept=JSON)
        assert again.status == 404
        reason = again.body.decode()
        assert "can't be reached" in reason and "pipff-gamma" in reason, reason
        assert "<" not in reason and "Error" not in reason, reason
    asked = [line for line in served.stderr.splitlines() if "GET /simple/pipff-gamma/" in line]
    assert len(asked) == 2 and all(" 404 " in line for line in asked), asked  # pip asked once
    said = [
        line
        for line in served.stderr.splitlines()
        if "pipff-gamma" in line and not line.startswith("GET ")
    ]
    assert len(said) == 1, served.stderr
    assert "<" not in said[0] and "Error" not in said[0], said[0]


# -- 4. offline pages leave out damaged local copies ----------------------------------------------


def test_an_offline_page_leaves_out_a_damaged_copy_so_an_older_intact_one_is_installed(
    index: IndexServer, env: dict[str, str], tmp_path: Path
) -> None:
    with serving(env, "-i", index.url) as served:
        page = json.loads(served.request("pipff-alpha/", accept=JSON).body)
        files = {f["filename"]: f for f in page["files"]}
        for name in ("pipff_alpha-1.0-py3-none-any.whl", "pipff_alpha-2.0-py3-none-any.whl"):
            assert served.request(str(files[name]["url"])).status == 200
        sha = str(files["pipff_alpha-2.0-py3-none-any.whl"]["hashes"]["sha256"])
        blob = Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "v1" / "blobs" / sha[:2] / sha
        data = bytearray(blob.read_bytes())
        data[-10] ^= 0xFF
        blob.write_bytes(bytes(data))
        index.stop()
        offline = served.request("pipff-alpha/", accept=JSON)
        assert offline.status == 200
        listed = [f["filename"] for f in json.loads(offline.body)["files"]]
        assert listed == ["pipff_alpha-1.0-py3-none-any.whl"]
        pip_env = dict(env, PIP_CACHE_DIR=str(tmp_path / "plain-pip-cache"))
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp_path / "d"),
             "-i", served.url, "pipff-alpha"],
            env=pip_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert [p.name for p in (tmp_path / "d").iterdir()] == ["pipff_alpha-1.0-py3-none-any.whl"]


# -- 5. /simple/ lists only what this serve may read ----------------------------------------------


def test_the_root_lists_no_project_recorded_only_with_credentials_from_another_index(
    index: IndexServer, pypi_index: IndexServer, env: dict[str, str]
) -> None:
    pypi_index.credentials = ("alice", "s3cret-pw")
    private = pypi_index.url.replace("http://", "http://alice:s3cret-pw@")
    with serving(env, "-i", private) as served:
        page = json.loads(served.request("pipff-gamma/", accept=JSON).body)
        assert served.request(str(page["files"][0]["url"])).status == 200
    with serving(env, "-i", index.url) as served:
        page = json.loads(served.request("pipff-alpha/", accept=JSON).body)
        assert served.request(str(page["files"][0]["url"])).status == 200
        for state in ("online", "offline"):
            root = served.request("/simple/", accept=JSON)
            names = [p["name"] for p in json.loads(root.body)["projects"]]
            assert names == ["pipff-alpha"], (state, names)
            html = served.request("/simple/", accept="text/html").body
            assert b"pipff-gamma" not in html
            index.stop()


# -- 6. serve gives the record the page's hashes --------------------------------------------------


def test_one_wrong_body_never_locks_a_file(
    site: Site, index: IndexServer, env: dict[str, str]
) -> None:
    """The wheel's URL answers once with 64 bytes of HTML labelled octet-stream (a portal, a
    bad CDN node): serve never records them against the page's sha256, and the next request
    gets the file; a copy recorded while the page listed no hash gives way to the index's."""
    name = "pipff_alpha-1.0-py3-none-any.whl"
    wheel = (index.dist_dir / name).read_bytes()
    portal = b"<html><body>" + b"x" * 38 + b"</body></html>"
    assert len(portal) == 64
    site.file(f"/files/{name}", portal)
    site.page("pipff-alpha", [(name, f"/files/{name}", wheel)])
    path = f"/files/pipff-alpha/{name}"
    with serving(env, "-i", f"{site.origin}/simple/") as served:
        assert served.request("pipff-alpha/", accept=JSON).status == 200
        first = _get(served, path)
        assert first is None or first[0] != 200
        site.file(f"/files/{name}", wheel)
        assert _get(served, path) == (200, wheel)
    with serving(env, "-i", f"{site.origin}/simple/") as served:
        assert _get(served, path) == (200, wheel)  # after a restart too

    # A copy recorded while the page listed no hash (as an older pip-ff recorded it).
    other = "pipff_alpha-2.0-py3-none-any.whl"
    good = (index.dist_dir / other).read_bytes()
    site.file(f"/files/{other}", portal)
    document = json.loads(site.routes["/simple/pipff-alpha/"][2])
    document["files"].append({"filename": other, "url": f"/files/{other}", "hashes": {}})
    site.routes["/simple/pipff-alpha/"] = (
        200,
        {"Content-Type": JSON},
        json.dumps(document).encode(),
    )
    with serving(env, "-i", f"{site.origin}/simple/") as served:
        assert _get(served, f"/files/pipff-alpha/{other}") == (200, portal)  # nothing to check
    site.file(f"/files/{other}", good)
    site.page("pipff-alpha", [(name, f"/files/{name}", wheel), (other, f"/files/{other}", good)])
    with serving(env, "-i", f"{site.origin}/simple/") as served:
        assert _get(served, f"/files/pipff-alpha/{other}") == (200, good)  # fetched again
        site.close()  # the index is gone: the record now holds the good copy
        offline = served.request(f"/files/pipff-alpha/{other}")
        assert (offline.status, offline.body) == (200, good)
        assert offline.headers["x-pipff-source"].startswith("pip-ff-record")


# -- issue 32, also: behaviour and docs/serve.md agree ---------------------------------------------


def test_an_upstream_401_or_403_is_passed_on(index: IndexServer, env: dict[str, str]) -> None:
    """docs/serve.md: a 4xx is passed on (never a 502, never a reason to answer locally)."""
    index.credentials = ("alice", "s3cret-pw")
    with serving(env, "-i", index.url) as served:  # no credentials: the index says 401
        page = served.request("pipff-alpha/", accept=JSON)
        assert page.status == 401, page
        assert "www-authenticate" not in page.headers  # no client is invited to send any
        assert b"401" in page.body
        index.credentials = None
        index.fail_next["/files/pipff_alpha-1.0-py3-none-any.whl"] = [403]
        files = json.loads(served.request("pipff-alpha/", accept=JSON).body)["files"]
        wheel = next(f for f in files if f["filename"] == "pipff_alpha-1.0-py3-none-any.whl")
        assert served.request(str(wheel["url"])).status == 403


def test_an_outage_is_said_in_one_line(index: IndexServer, env: dict[str, str]) -> None:
    with serving(env, "-i", index.url) as served:
        files = json.loads(served.request("pipff-alpha/", accept=JSON).body)["files"]
        assert served.request(str(files[0]["url"])).status == 200
        before = len(served.stderr_lines)
        index.stop()
        for _ in range(3):
            assert served.request("pipff-alpha/", accept=JSON).status == 200
            assert served.request(str(files[0]["url"])).status == 200
        said = [
            line for line in served.stderr_lines[before:] if not line.startswith(("GET ", "HEAD "))
        ]
    assert len(said) == 1, said
    assert "unreachable" in said[0] and "answering from local sources" in said[0], said
