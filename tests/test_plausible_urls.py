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


# -- one credential stripper (issue 34) -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kept", "no_fragment"),
    [
        ("https://user:pw@index.example/simple/", "https://index.example/simple/", None),
        ("https://token@index.example/simple/", "https://index.example/simple/", None),
        # An unquoted @ in the password: all of it goes, not just what comes before the first @.
        ("https://u:p@ss@index.example:8443/s/", "https://index.example:8443/s/", None),
        ("http://u:p@[::1]:3141/root/+simple/", "http://[::1]:3141/root/+simple/", None),
        ("http://u:p@[fe80::1%25eth0]/s/", "http://[fe80::1%25eth0]/s/", None),
        (
            "https://u:p@h.example/s/?a=1#egg=x",
            "https://h.example/s/?a=1#egg=x",
            "https://h.example/s/?a=1",
        ),
        # No credentials: the URL as it was (case, port, fragment), unless the fragment goes.
        (
            "HTTPS://Index.Example:443/Simple/#f",
            "HTTPS://Index.Example:443/Simple/#f",
            "https://Index.Example:443/Simple/",  # (urlsplit lower-cases the scheme)
        ),
        ("https://index.example/simple/", "https://index.example/simple/", None),
        # Not a URL urlsplit takes (an unclosed IPv6 bracket): still no credentials.
        ("http://u:p@[::1/simple/", "http://[::1/simple/", None),
        ("not a url", "not a url", None),
    ],
)
def test_without_credentials(url: str, kept: str, no_fragment: str | None) -> None:
    assert urls.without_credentials(url) == kept
    assert urls.without_credentials(url, fragment=False) == (no_fragment or kept)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (
            "https://a:b@primary.example/simple/=https://c:d@mirror.example/simple/",
            "https://primary.example/simple/=https://mirror.example/simple/",
        ),
        ("https://u:p@ss@mirror.example/simple/?x=1", "https://mirror.example/simple/?x=1"),
        ("ftp://u:p@mirror.example/simple/", "ftp://mirror.example/simple/"),
        ("mirror.example/simple/", "mirror.example/simple/"),
    ],
)
def test_config_says_a_fallback_index_without_credentials(value: str, said: str) -> None:
    from pip_offline_fallback import config

    assert config.without_credentials(value) == said


def test_mirrors_and_serve_strip_credentials_the_same_way() -> None:
    from pip_offline_fallback import mirrors
    from pip_offline_fallback.serve import credentials

    url = "https://u:p%40x@[::1]:8080/s/#frag"
    assert mirrors.split_credentials(url) == ("https://[::1]:8080/s/#frag", ("u", "p@x"))
    assert mirrors.without_credentials(url) == "https://[::1]:8080/s/#frag"
    assert credentials.without_credentials(url) == "https://[::1]:8080/s/"
