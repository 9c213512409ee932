"""The per-user serve's pieces, unit by unit (issue 32's review): what makes two serves the
same (the fingerprint), who may read a serve's state, the size of its log."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pip_offline_fallback.serve import state
from testbed import IndexServer, SlowAcceptServer
from tests.serving import serving

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    "name",
    [
        "HTTPS_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ],
)
def test_proxies_and_certificate_authorities_make_another_serve(home: Path, name: str) -> None:
    base = {"PIP_CONFIG_FILE": "/dev/null", "HOME": str(home)}
    secret = "http://user:pa55word@proxy.invalid:3128"
    changed = state.fingerprint(["run"], dict(base, **{name: secret}))
    assert changed != state.fingerprint(["run"], base)
    assert "pa55word" not in changed  # a hash only: the values may hold credentials


def test_the_netrc_file_and_a_bundle_replaced_in_place_make_another_serve(home: Path) -> None:
    environ = {"PIP_CONFIG_FILE": "/dev/null", "HOME": str(home)}
    none = state.fingerprint(["run"], environ)
    (home / ".netrc").write_text("machine index.invalid login a password b\n")
    first = state.fingerprint(["run"], environ)
    (home / ".netrc").write_text("machine index.invalid login a password c\n")
    second = state.fingerprint(["run"], environ)
    assert len({none, first, second}) == 3
    named = home / "other-netrc"
    named.write_text("machine index.invalid login a password d\n")
    with_netrc = dict(environ, NETRC=str(named))
    before = state.fingerprint(["run"], with_netrc)
    named.write_text("machine index.invalid login a password e\n")
    assert state.fingerprint(["run"], with_netrc) != before
    bundle = home / "ca.pem"
    bundle.write_text("one\n")
    with_bundle = dict(environ, SSL_CERT_FILE=str(bundle))
    before = state.fingerprint(["run"], with_bundle)
    bundle.write_text("another, longer\n")
    assert state.fingerprint(["run"], with_bundle) != before
    # The idle timeout is no reason to replace a serve.
    assert state.fingerprint(["run"], dict(environ, PIPFF_SERVE_IDLE="5")) == second


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SlowAcceptServer: Linux")
def test_serve_keeps_what_connects_teach_and_honours_a_timeout_given_to_it(
    index: IndexServer, env: dict[str, str]
) -> None:
    """As ``pip-ff install``: the connect times serve learns are kept in the store (they used
    to be dropped), and ``--timeout`` given to serve (``pip-ff run --timeout``) is the user's
    word, never shortened by the 2 s connect deadline (it used to be: a link that connects in
    3 s was taken for an outage)."""
    times = Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "connect-times.json"
    with SlowAcceptServer(index.port, delay=3.0) as slow:
        with serving(env, "-i", slow.url) as served:
            assert served.request("pipff-alpha/", accept=JSON).status == 200  # recorded
            assert times.is_file()  # kept while serve runs (it runs for days)
        times.unlink()  # as if recorded while the link was fast
        with serving(env, "-i", slow.url, "--timeout", "20") as served:
            answer = served.request("pipff-alpha/", accept=JSON)
        assert min(slow.connect_times) > 2.0, slow.connect_times
    assert answer.status == 200, answer
    assert "x-pipff-source" not in answer.headers, answer.headers  # the index's own answer
