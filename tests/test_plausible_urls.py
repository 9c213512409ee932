"""Pure logic, in-process: whether an answer can be what was asked (plausible.py), and how URLs
and distribution file names are taken apart (urls.py)."""

from __future__ import annotations

import json

import pytest

from pip_offline_fallback import plausible, urls

# -- plausible.py -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://files.example/p/pipff_alpha-1.0-py3-none-any.whl", True),
        ("https://files.example/p/pipff_alpha-1.0-py3-none-any.whl#sha256=ab", True),
        ("https://files.example/p/pipff-alpha-1.0.tar.gz?sig=1", True),
        ("https://files.example/p/pipff_alpha-1.0-py3-none-any.whl.metadata", True),
        ("https://files.example/p/pipff%2Dalpha-1.0.zip", True),
        ("https://index.example/simple/pipff-alpha/", False),
        ("https://files.example/objects/0123456789abcdef", False),
        ("https://files.example/p/not-a-wheel.whl", False),
        ("https://files.example/p/pipff-alpha-1.0.tar.bz2", False),
    ],
)
def test_is_distribution_url(url: str, expected: bool) -> None:
    assert plausible.is_distribution_url(url) is expected


@pytest.mark.parametrize(
    ("content_type", "doubted"),
    [
        ("text/html", True),
        ("Text/HTML; charset=utf-8", True),
        ("application/octet-stream", False),
        ("binary/octet-stream", False),
        ("", False),
    ],
)
def test_a_file_answered_with_html_is_doubted(content_type: str, doubted: bool) -> None:
    assert (plausible.doubt_about_file(content_type) is not None) is doubted


_WHEEL = "pipff_alpha-1.0-py3-none-any.whl"


@pytest.mark.parametrize(
    ("content_type", "body", "doubted"),
    [
        ("text/html", f'<a href="../../f/{_WHEEL}#sha256=00">{_WHEEL}</a>'.encode(), False),
        ("text/html", f"<a HREF='/f/{_WHEEL}'>x</a>".encode(), False),
        ("text/html", b"<html><form action='/login'>Log in</form></html>", True),
        ("text/html", b'<a href="/f/pipff_beta-1.0-py3-none-any.whl">other</a>', True),
        ("text/html", b"", True),
        (
            "application/vnd.pypi.simple.v1+json",
            json.dumps({"files": [{"filename": _WHEEL, "url": f"/f/{_WHEEL}"}]}).encode(),
            False,
        ),
        # pip reads a JSON file from its url: one without is no file pip can install.
        (
            "application/vnd.pypi.simple.v1+json",
            json.dumps({"files": [{"filename": _WHEEL}]}).encode(),
            True,
        ),
        # Unquoted attribute values are valid HTML, and pip reads them.
        ("text/html", f"<a href=/f/{_WHEEL}#sha256=00>{_WHEEL}</a>".encode(), False),
        ("application/vnd.pypi.simple.v1+html", f"<a href=../{_WHEEL}>".encode(), False),
        # A content type pip reads no links from.
        ("text/plain", f'<a href="/f/{_WHEEL}">x</a>'.encode(), True),
        ("application/vnd.pypi.simple.v1+json", json.dumps({"files": []}).encode(), True),
        ("application/vnd.pypi.simple.v1+json", b"not json", True),
        ("application/vnd.pypi.simple.v1+json", b"[1, 2]", True),
    ],
)
def test_a_page_must_list_a_file_of_its_project(
    content_type: str, body: bytes, doubted: bool
) -> None:
    doubt = plausible.doubt_about_page("PipFF_Alpha", content_type, body)
    assert (doubt is not None) is doubted, doubt
    if doubt is not None:
        assert "PipFF_Alpha" in doubt


# -- urls.py ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("HTTPS://Index.Example/simple/a/#frag", "https://index.example/simple/a/"),
        ("https://alice:s3cret@index.example/simple/a/", "https://index.example/simple/a/"),
        ("http://index.example:8080/simple/?q=1", "http://index.example:8080/simple/?q=1"),
        ("http://[::1]:3141/root/pypi/", "http://[::1]:3141/root/pypi/"),
    ],
)
def test_url_key(url: str, key: str) -> None:
    assert urls.url_key(url) == key


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://alice:pw@Index.Example/simple/", "https://index.example:443"),
        ("http://index.example/simple/", "http://index.example:80"),
        ("http://127.0.0.1:8080/simple/", "http://127.0.0.1:8080"),
        ("http://[::1]:3141/x", "http://[::1]:3141"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert urls.host_of(url) == host


def test_filename_of_unquotes_and_drops_query_and_fragment() -> None:
    url = "https://files.example/a/pipff%2Dalpha-1.0.tar.gz?sig=x#sha256=00"
    assert urls.filename_of(url) == "pipff-alpha-1.0.tar.gz"


@pytest.mark.parametrize(
    ("filename", "parsed"),
    [
        ("pipff_alpha-1.0-py3-none-any.whl", ("pipff-alpha", "1.0")),
        ("PipFF.Alpha-2.0rc1.tar.gz", ("pipff-alpha", "2.0rc1")),
        ("pipff_alpha-1.0.zip", ("pipff-alpha", "1.0")),
        ("pipff_alpha-1.0.tar.bz2", None),
        ("not-a-wheel.whl", None),
        ("pipff_alpha-x.y-py3-none-any.whl", None),
        ("index.html", None),
    ],
)
def test_parse_dist_filename(filename: str, parsed: tuple[str, str] | None) -> None:
    result = urls.parse_dist_filename(filename)
    assert (None if result is None else (result[0], str(result[1]))) == parsed
    assert urls.project_of(filename) == (None if parsed is None else parsed[0])


# -- a mirror's page against the record's ------------------------------------------------------


def test_listed_hashes_from_html_and_json() -> None:
    html = (
        f'<a href="../f/{_WHEEL}#sha256=AB12">x</a>'
        '<a href="/f/pipff_alpha-1.1.tar.gz#md5=00">md5 only</a>'
        '<a href="/f/pipff_alpha-2.0.tar.gz">no hash</a>'
    ).encode()
    assert plausible.listed_hashes(html) == {_WHEEL: "ab12"}
    body = json.dumps(
        {
            "files": [
                {"filename": _WHEEL, "url": f"/f/{_WHEEL}", "hashes": {"sha256": "cd34"}},
                {"filename": "pipff_alpha-2.0.tar.gz", "url": "/f/pipff_alpha-2.0.tar.gz"},
                "junk",
            ]
        }
    ).encode()
    assert plausible.listed_hashes(body) == {_WHEEL: "cd34"}
    assert plausible.listed_hashes(b"{") == {}


def test_the_same_file_name_with_another_hash_clashes() -> None:
    recorded = {_WHEEL: "aa", "pipff_alpha-1.1.tar.gz": "bb"}
    assert plausible.clashing_file({_WHEEL: "aa", "pipff_alpha-2.0.tar.gz": "cc"}, recorded) is None
    assert plausible.clashing_file({_WHEEL: "ff"}, recorded) == (_WHEEL, "ff", "aa")
    assert plausible.clashing_file({}, recorded) is None
