"""``pip-ff serve``: the protocol, the security checks, offline answers, concurrency (issue 25).

Every test runs the real command against the test bed's loopback index (tests/serving.py) and
speaks raw HTTP to it. The installers' own runs (uv, pip without pip-ff, pdm) and ``pip-ff run``
are in tests/test_serve_tools.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pip_offline_fallback import compat
from testbed import IndexServer, hold_port
from tests.serving import Served, serving
from tests.test_trust import CaptivePortal

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "application/vnd.pypi.simple.v1+html"
PIP_ACCEPT = f"{JSON}, {HTML}; q=0.1, text/html; q=0.01"


def _files(served: Served, project: str) -> dict[str, dict[str, object]]:
    answer = served.request(f"{project}/", accept=JSON)
    assert answer.status == 200, answer
    return {str(f["filename"]): f for f in json.loads(answer.body)["files"]}


def _path(served: Served, url: object) -> str:
    """A file URL of a served page, as a path on serve (they are root-relative)."""
    text = str(url)
    assert text.startswith(served.prefix + "/files/"), text
    return text


# -- protocol --------------------------------------------------------------------------------


def test_json_and_html_by_accept_with_what_installers_need(
    index: IndexServer, env: dict[str, str]
) -> None:
    with serving(env, "-i", index.url) as served:
        answer = served.request("pipff-zeta/", accept=PIP_ACCEPT)
        assert answer.status == 200
        assert answer.headers["content-type"] == JSON
        assert answer.headers["vary"] == "Accept"
        assert int(answer.headers["content-length"]) == len(answer.body)
        document = json.loads(answer.body)
        # The test bed's index gives no sizes: no api-version 1.1 promise (PEP 700).
        assert document["meta"]["api-version"] == "1.0"
        files = {f["filename"]: f for f in document["files"]}
        yanked = files["pipff_zeta-1.1-py3-none-any.whl"]
        assert yanked["yanked"] is True
        assert files["pipff_zeta-1.0-py3-none-any.whl"]["yanked"] is False
        for entry in files.values():
            assert len(entry["hashes"]["sha256"]) == 64
            assert "sha256" in entry["core-metadata"]
            assert "dist-info-metadata" not in entry  # breaks pip 22.3-23.0 (PEP 714)
            assert "upload-time" not in entry  # the index gave none: never invented
        epsilon = _files(served, "pipff-epsilon")
        assert epsilon["pipff_epsilon-2.0-py3-none-any.whl"]["requires-python"] == ">=4"

        html = served.request("pipff-epsilon/", accept="text/html")
        assert html.status == 200
        assert html.headers["content-type"] == "text/html; charset=utf-8"
        assert b'data-requires-python="&gt;=4"' in html.body
        assert b"#sha256=" in html.body and b'data-core-metadata="sha256=' in html.body
        pep691_html = served.request("pipff-epsilon/", accept=HTML)
        assert pep691_html.headers["content-type"] == HTML
        assert served.request("pipff-epsilon/", accept="image/png").status == 406
        poetry = served.request("pipff-epsilon/", accept=f"{JSON}, */*;q=0.1")
        assert poetry.headers["content-type"] == JSON


def test_files_head_range_404_and_301(index: IndexServer, env: dict[str, str]) -> None:
    with serving(env, "-i", index.url) as served:
        entry = _files(served, "pipff-alpha")["pipff_alpha-1.0-py3-none-any.whl"]
        path = _path(served, entry["url"])
        whole = served.request(path)
        assert whole.status == 200
        assert hashlib.sha256(whole.body).hexdigest() == entry["hashes"]["sha256"]  # type: ignore[index]
        assert whole.headers["content-type"] == "application/octet-stream"
        assert "content-encoding" not in whole.headers
        size = len(whole.body)

        head = served.request(path, method="HEAD")
        assert head.status == 200 and head.body == b""
        assert int(head.headers["content-length"]) == size
        assert head.headers["accept-ranges"] == "bytes"

        part = served.request(path, headers={"Range": "bytes=10-19"})
        assert part.status == 206
        assert part.body == whole.body[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{size}"
        tail = served.request(path, headers={"Range": "bytes=-5"})
        assert tail.status == 206 and tail.body == whole.body[-5:]
        beyond = served.request(path, headers={"Range": f"bytes={size}-"})
        assert beyond.status == 416

        metadata = served.request(path + ".metadata")
        assert metadata.status == 200
        assert hashlib.sha256(metadata.body).hexdigest() == entry["core-metadata"]["sha256"]  # type: ignore[index]

        assert served.request("pipff-unknown/").status == 404
        assert (
            served.request(
                f"{served.prefix}/files/pipff-alpha/pipff_alpha-9.9-py3-none-any.whl"
            ).status
            == 404
        )
        moved = served.request("Pipff_Alpha/")
        assert moved.status == 301
        assert moved.headers["location"] == f"{served.prefix}/simple/pipff-alpha/"
        assert served.request("pipff-alpha").status == 301


# -- security --------------------------------------------------------------------------------


def test_foreign_host_and_state_changing_methods_are_refused(
    index: IndexServer, env: dict[str, str]
) -> None:
    with serving(env, "-i", index.url) as served:
        port = served.origin.rsplit(":", 1)[1]
        assert served.request("pipff-alpha/", host=f"localhost:{port}").status == 200
        assert served.request("pipff-alpha/", host=f"evil.example:{port}").status == 403
        assert served.request("pipff-alpha/", host="evil.example").status == 403
        for method in ("POST", "PUT", "DELETE"):
            assert served.request("pipff-alpha/", method=method).status == 405
        assert served.stop() == 0  # SIGTERM: a clean stop
    assert "pip-ff serve: stopped" in served.stderr


def test_another_address_only_with_a_warning(index: IndexServer, env: dict[str, str]) -> None:
    """Also: pip's extra index URLs are not merged into serve's one namespace (said once)."""
    env = dict(env, PIP_EXTRA_INDEX_URL="http://127.0.0.1:9/simple/")
    with serving(env, "--host", "127.0.0.2", "-i", index.url) as served:
        assert served.url.startswith("http://127.0.0.2:")
        assert served.request("pipff-alpha/").status == 200
        port = served.origin.rsplit(":", 1)[1]
        assert served.request("pipff-alpha/", host=f"127.0.0.1:{port}").status == 403
    assert "anyone who can reach this address" in served.stderr
    assert "extra index URLs are not merged in" in served.stderr


@pytest.mark.parametrize(
    "path",
    [
        "/simple/../../etc/passwd",
        "/files/pipff-alpha/..%2f..%2fetc%2fpasswd",
        "/files/pipff-alpha/%2e%2e",
        "/files/pipff-alpha/pipff_alpha-1.0-py3-none-any.whl%00",
        "/simple/pipff-alpha%5c..%5c/",
        "/files/pipff-alpha/" + "a" * 2000 + ".whl",
        "/simple/" + "b" * 300 + "/",
    ],
)
def test_malformed_paths_get_a_4xx(index: IndexServer, env: dict[str, str], path: str) -> None:
    with serving(env, "-i", index.url) as served:
        answer = served.request(path)
        assert 400 <= answer.status < 500, (path, answer)
        assert b"root:" not in answer.body


def test_a_token_guards_an_index_asked_with_credentials(
    index: IndexServer, env: dict[str, str], tmp_path: Path
) -> None:
    """The index needs credentials: serve's URL carries a secret token (kept 0600 in the
    record); without it another local user gets 403, and no page names the credentials."""
    index.credentials = ("alice", "s3cret-pw")
    with serving(env, "-i", index.url.replace("http://", "http://alice:s3cret-pw@")) as served:
        assert served.prefix, served.url
        token = served.prefix.strip("/")
        page = served.request("pipff-alpha/", accept=JSON)
        assert page.status == 200
        assert b"s3cret-pw" not in page.body and b"alice" not in page.body
        assert all("s3cret-pw" not in v for v in page.headers.values())
        assert served.request("/simple/pipff-alpha/").status == 403
        assert served.request("/wrong-token/simple/pipff-alpha/").status == 403
        url = served.url
    assert "s3cret-pw" not in served.stderr and token not in served.stderr
    token_file = Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "serve-token"
    assert os.stat(token_file).st_mode & 0o077 == 0
    with serving(env, "-i", index.url.replace("http://", "http://alice:s3cret-pw@")) as again:
        assert again.url.split("/", 3)[3] == url.split("/", 3)[3]  # the same path: stable


# -- offline ---------------------------------------------------------------------------------


def test_offline_pages_list_only_local_files_and_say_where_from(
    index: IndexServer, env: dict[str, str]
) -> None:
    with serving(env, "-i", index.url) as served:
        files = _files(served, "pipff-alpha")
        one = files["pipff_alpha-1.0-py3-none-any.whl"]
        assert served.request(_path(served, one["url"])).status == 200
        assert "x-pipff-source" not in served.request("pipff-alpha/", accept=JSON).headers
        index.stop()
        for _ in range(3):
            offline = served.request("pipff-alpha/", accept=JSON)
            assert offline.status == 200
            assert [f["filename"] for f in json.loads(offline.body)["files"]] == [
                "pipff_alpha-1.0-py3-none-any.whl"
            ]
            assert offline.headers["x-pipff-source"].startswith("pip-ff-record; age=")
        got = served.request(_path(served, one["url"]))
        assert got.status == 200 and got.headers["x-pipff-source"].startswith("pip-ff-record")
        assert hashlib.sha256(got.body).hexdigest() == one["hashes"]["sha256"]  # type: ignore[index]
        ranged = served.request(_path(served, one["url"]), headers={"Range": "bytes=0-3"})
        assert ranged.status == 206 and ranged.body == b"PK\x03\x04"
        never = files["pipff_alpha-1.1-py3-none-any.whl"]
        assert served.request(_path(served, never["url"])).status == 503
        assert served.request("pipff-gamma/", accept=JSON).status == 404  # never recorded
        root = served.request("/simple/", accept=JSON)  # what the record holds files of
        assert [p["name"] for p in json.loads(root.body)["projects"]] == ["pipff-alpha"]
    lines = [line for line in served.stderr.splitlines() if "answering from local sources" in line]
    assert len(lines) == 1, served.stderr
    from pip_offline_fallback.store import Store

    store = Store(str(Path(env["PIP_CACHE_DIR"]) / "pip-ff"))
    assert store.projects() == ["pipff-alpha"]
    names = sorted(e.url.rsplit("/", 1)[1] for e in store.entries_of("pipff-alpha"))
    assert names == ["pipff_alpha-1.0-py3-none-any.whl"]
    assert len(list(store.entries())) == 2  # and the page


def test_pages_are_kept_by_clients_as_long_as_the_index_allows_and_briefly_offline(
    pypi_index: IndexServer, env: dict[str, str]
) -> None:
    # A client of serve keeps a page as long as it would going direct (PyPI: max-age=600), so
    # a warm uv asks serve nothing, as it asks the index nothing; a page answered from local
    # sources while the index is down is kept a minute at most.
    with serving(env, "-i", pypi_index.url) as served:
        online = served.request("pipff-alpha/", accept=JSON)
        assert online.headers["cache-control"] == "max-age=600"
        again = served.request(
            "pipff-alpha/", accept=JSON, headers={"If-None-Match": online.headers["etag"]}
        )
        assert again.status == 304 and again.headers["cache-control"] == "max-age=600"
        pypi_index.stop()
        offline = served.request("pipff-alpha/", accept=JSON)
        assert offline.status == 200 and "x-pipff-source" in offline.headers
        assert offline.headers["cache-control"] == "max-age=60"


def test_a_silent_index_costs_serve_the_first_byte_deadline(
    index: IndexServer, env: dict[str, str]
) -> None:
    """alpha's page recorded; then the index accepts connections and never says a word. serve
    answers from the record after the first byte's deadline (it used to wait through pip's
    read retries: 69 s at PIP_DEFAULT_TIMEOUT=10), and its log names the wait."""
    with serving(dict(env, PIP_DEFAULT_TIMEOUT="10"), "-i", index.url) as served:
        assert served.request("pipff-alpha/", accept=JSON).status == 200
        index.stop()
        with hold_port(index.port, accept=True):
            started = time.monotonic()
            offline = served.request("pipff-alpha/", accept=JSON)
            elapsed = time.monotonic() - started
    assert offline.status == 200, offline
    assert offline.headers["x-pipff-source"].startswith("pip-ff-record"), offline.headers
    assert elapsed < 30, elapsed  # pip's read retries: 69 s
    assert "read timed out after" in served.stderr, served.stderr


def test_a_damaged_blob_is_never_served(index: IndexServer, env: dict[str, str]) -> None:
    with serving(env, "-i", index.url) as served:
        entry = _files(served, "pipff-alpha")["pipff_alpha-1.0-py3-none-any.whl"]
        assert served.request(_path(served, entry["url"])).status == 200
        sha = str(entry["hashes"]["sha256"])  # type: ignore[index]
        blob = Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "v1" / "blobs" / sha[:2] / sha
        data = bytearray(blob.read_bytes())
        data[-10] ^= 0xFF
        blob.write_bytes(bytes(data))
        index.stop()
        answer = served.request(_path(served, entry["url"]))
        assert 500 <= answer.status < 600, answer
        assert bytes(data) != answer.body and b"PK" not in answer.body
    assert "damaged" in served.stderr


def test_a_login_page_from_upstream_is_never_taken_for_the_index(
    index: IndexServer, env: dict[str, str]
) -> None:
    with serving(env, "-i", index.url) as served:
        entry = _files(served, "pipff-alpha")["pipff_alpha-1.0-py3-none-any.whl"]
        assert served.request(_path(served, entry["url"])).status == 200
        port = index.port
        index.stop()
        with CaptivePortal(port):
            page = served.request("pipff-alpha/", accept=JSON)
            assert page.status == 200 and page.headers["x-pipff-source"].startswith("pip-ff")
            assert [f["filename"] for f in json.loads(page.body)["files"]] == [
                "pipff_alpha-1.0-py3-none-any.whl"
            ]
            got = served.request(_path(served, entry["url"]))
            assert got.status == 200 and got.body[:2] == b"PK"
            fresh = served.request("pipff-gamma/", accept=JSON)  # nothing local to answer with
            assert fresh.status >= 500 and b"form" not in fresh.body
    assert "login page" in served.stderr


# -- concurrency -----------------------------------------------------------------------------


def test_32_parallel_clients_and_a_prune_leave_nothing_corrupt(
    index: IndexServer, env: dict[str, str]
) -> None:
    projects = ["pipff-alpha", "pipff-beta", "pipff-gamma", "pipff-zeta", "pipff-epsilon"]
    with serving(env, "-i", index.url) as served:

        def client(n: int) -> list[str]:
            problems = []
            project = projects[n % len(projects)]
            answer = served.request(f"{project}/", accept=JSON)
            if answer.status != 200:
                return [f"{project}: {answer.status}"]
            for entry in json.loads(answer.body)["files"]:
                got = served.request(_path(served, entry["url"]))
                if got.status != 200:
                    problems.append(f"{entry['filename']}: {got.status}")
                elif hashlib.sha256(got.body).hexdigest() != entry["hashes"]["sha256"]:
                    problems.append(f"{entry['filename']}: other bytes")
            return problems

        prune = subprocess.Popen(
            [sys.executable, "-m", "pip_offline_fallback", "store", "prune", "--keep", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(client, range(64)))
        assert prune.wait(timeout=300) == 0
        assert [p for r in results for p in r] == []
        index.stop()
        offline = served.request("pipff-beta/", accept=JSON)
        assert offline.status == 200
    info = subprocess.run(
        [sys.executable, "-m", "pip_offline_fallback", "store", "info", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(info.stdout)
    assert not report.get("damaged"), report


# -- the page model (in process) ---------------------------------------------------------------

# PEP 691's own example project page (JSON), with PEP 700's size and upload-time added.
PEP691_JSON = {
    "meta": {"api-version": "1.1"},
    "name": "holygrail",
    "files": [
        {
            "filename": "holygrail-1.0.tar.gz",
            "url": "https://example.com/files/holygrail-1.0.tar.gz",
            "hashes": {"sha256": "a" * 64},
            "requires-python": ">=3.7",
            "yanked": "Had a vulnerability",
            "size": 1234,
            "upload-time": "2024-01-02T03:04:05.000006Z",
        },
        {
            "filename": "holygrail-1.0-py3-none-any.whl",
            "url": "/files/holygrail-1.0-py3-none-any.whl",
            "hashes": {"sha256": "b" * 64},
            "requires-python": ">=3.7",
            "dist-info-metadata": True,
            "core-metadata": {"sha256": "c" * 64},
            "size": 99,
        },
    ],
    "versions": ["1.0"],
}
PEP503_HTML = b"""<!DOCTYPE html><html><body>
<a href="/files/holygrail-1.0.tar.gz#sha256=aaaa" data-requires-python="&gt;=3.7"
   data-yanked="">holygrail-1.0.tar.gz</a>
<a href="https://example.com/files/holygrail-1.0-py3-none-any.whl#sha256=bbbb"
   data-dist-info-metadata="sha256=cccc">holygrail-1.0-py3-none-any.whl</a>
</body></html>"""


def test_the_page_model_keeps_what_upstream_said_and_invents_nothing() -> None:
    from pip_offline_fallback.serve import pages

    body = json.dumps(PEP691_JSON).encode()
    page = pages.parse(body, pages.JSON_TYPE, "https://example.com/simple/holygrail/", "holygrail")
    sdist, wheel = page.files
    assert wheel.url == "https://example.com/files/holygrail-1.0-py3-none-any.whl"
    assert (sdist.yanked, sdist.size, sdist.upload_time) == (
        "Had a vulnerability", 1234, "2024-01-02T03:04:05.000006Z",
    )  # fmt: skip
    rendered = json.loads(pages.render_json(page))
    assert rendered["meta"]["api-version"] == "1.1" and rendered["versions"] == ["1.0"]
    out_sdist, out_wheel = rendered["files"]
    assert out_sdist["upload-time"] == "2024-01-02T03:04:05.000006Z"
    assert "upload-time" not in out_wheel  # upstream gave none
    assert out_wheel["core-metadata"] == {"sha256": "c" * 64}
    assert "dist-info-metadata" not in out_wheel
    assert out_sdist["yanked"] == "Had a vulnerability"

    html = pages.parse(
        PEP503_HTML, "text/html", "https://example.com/simple/holygrail/", "holygrail"
    )
    h_sdist, h_wheel = html.files
    assert h_sdist.url == "https://example.com/files/holygrail-1.0.tar.gz"
    assert (h_sdist.sha256, h_sdist.requires_python, h_sdist.yanked) == ("aaaa", ">=3.7", True)
    assert (h_wheel.has_metadata, h_wheel.metadata_sha256) == (True, "cccc")
    again = pages.parse(pages.render_html(html), "text/html", "https://x/", "holygrail")
    assert again.files == html.files
    assert json.loads(pages.render_json(html))["meta"]["api-version"] == "1.0"  # no sizes


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (PIP_ACCEPT, JSON),
        (f"{JSON}, {HTML};q=0.2, text/html;q=0.01", JSON),  # uv
        (f"{JSON}, */*;q=0.1", JSON),  # poetry
        ("text/html", "text/html; charset=utf-8"),
        (HTML, HTML),
        (f"{HTML}, {JSON};q=0.5", HTML),
        ("", "text/html; charset=utf-8"),
        ("image/png", None),
    ],
)
def test_accept_negotiation(accept: str, expected: str | None) -> None:
    from pip_offline_fallback.serve import pages

    chosen = pages.negotiate(accept)
    assert (chosen[1] if chosen else None) == expected


def test_install_path_and_start_up_hook_never_import_the_server_library() -> None:
    code = (
        "import sys, pip_offline_fallback.startup, pip_offline_fallback.cli, "
        "pip_offline_fallback.inject, pip_offline_fallback.serve; "
        "print(sorted(m for m in sys.modules if m.startswith(('waitress', "
        "'pip_offline_fallback.serve.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


# pip's install machinery: a serve uses pip's session only (inject.inject_session).
_NOT_SERVE_S = (
    "pip._internal.commands.",
    "pip._internal.index.package_finder",
    "pip._internal.operations.prepare",
    "pip._internal.req",
    "pip._internal.resolution",
)
# pip-ff as ``python -m`` runs it, saying at its end every module it imported.
_SAYING_ITS_MODULES = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: sys.stderr.write('modules: ' + ' '.join(sorted(sys.modules))))\n"
    "runpy.run_module('pip_offline_fallback', run_name='__main__', alter_sys=True)\n"
)


def test_a_serve_answers_without_importing_pip_s_finder_resolver_or_commands(
    index: IndexServer, env: dict[str, str]
) -> None:
    """A new serve need not import these: its start waited for them (docs/benchmarks.md)."""
    with serving(env, "-i", index.url, main=("-c", _SAYING_ITS_MODULES)) as served:
        files = _files(served, "pipff-zeta")
        url = files["pipff_zeta-1.0-py3-none-any.whl"]["url"]
        assert served.request(_path(served, url)).status == 200
        assert served.stop() == 0
    imported = set(served.stderr.rpartition("modules: ")[2].split())
    assert "pip._internal.network.session" in imported  # pip's own session, as before
    unused = _NOT_SERVE_S
    if compat.SessionCommandMixin.__module__ == "pip._internal.cli.req_command":
        # pip < 24.1 keeps the session's mixin beside the requirement commands, whose module
        # imports pip's finder and requirements: not its commands or its resolver.
        unused = ("pip._internal.commands.", "pip._internal.resolution.resolvelib")
    assert sorted(m for m in imported if m.startswith(unused)) == []


def test_max_stale_refuses_old_pages_but_never_files(
    index: IndexServer, env: dict[str, str]
) -> None:
    """--max-stale reaches serve's page requests (no finder there): the page is refused once
    older than the limit; a file is served whatever its age."""
    with serving(env, "--max-stale", "1s", "-i", index.url) as served:
        entry = _files(served, "pipff-alpha")["pipff_alpha-1.0-py3-none-any.whl"]
        assert served.request(_path(served, entry["url"])).status == 200
        index.stop()
        time.sleep(2.5)  # the recorded page is now older than 1 s (only ever older)
        assert served.request("pipff-alpha/", accept=JSON).status == 503
        assert served.request(_path(served, entry["url"])).status == 200


def test_a_wheelhouse_file_is_served_offline_only_when_it_matches_the_page(
    index: IndexServer, env: dict[str, str], tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    good, other = "pipff_alpha-1.0-py3-none-any.whl", "pipff_alpha-1.1-py3-none-any.whl"
    (wheelhouse / good).write_bytes((index.dist_dir / good).read_bytes())
    (wheelhouse / other).write_bytes((index.dist_dir / good).read_bytes())  # other bytes
    with serving(env, "--wheelhouse", str(wheelhouse), "-i", index.url) as served:
        files = _files(served, "pipff-alpha")  # the page only: no file is recorded
        index.stop()
        page = served.request("pipff-alpha/", accept=JSON)
        listed = sorted(f["filename"] for f in json.loads(page.body)["files"])
        assert listed == [good]  # other bytes than the page's: left out; 2.0 is not local
        got = served.request(_path(served, files[good]["url"]))
        assert got.status == 200 and got.headers["x-pipff-source"].startswith("wheelhouse")
        assert hashlib.sha256(got.body).hexdigest() == files[good]["hashes"]["sha256"]  # type: ignore[index]
        mismatch = served.request(_path(served, files[other]["url"]))
        assert mismatch.status == 502 and not mismatch.body.startswith(b"PK")
    assert "does not match the index's sha256" in served.stderr
