"""``pip-ff serve``: what it hands out, and to whom (issue 33 items 1-5, issue 32 item 5).

Any local user can connect to serve's loopback port, and serve asks the index with its owner's
credentials and reads with its owner's rights. These tests run the real command against the
test bed's index (tests/serving.py) and check that nothing private, local or unverified is
handed out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed import IndexServer
from tests.serving import serving

JSON = "application/vnd.pypi.simple.v1+json"


def _as_nobody(url: str) -> int | None:
    """The HTTP status user ``nobody`` gets for ``url`` (None: can't run as nobody here)."""
    runuser, python = shutil.which("runuser"), shutil.which("python3", path="/usr/bin:/bin")
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


def test_a_failing_credential_check_means_a_token() -> None:
    """When the check itself fails, serve can't know the index is public: it takes a token."""
    from pip_offline_fallback.serve.upstream import asks_with_credentials

    class Broken:
        auth = None

        def prepare_request(self, request: object) -> object:
            raise RuntimeError("keyring exploded")

    assert asks_with_credentials(Broken(), "http://127.0.0.1:9/simple/")
    assert asks_with_credentials(Broken(), "http://user@127.0.0.1:9/simple/")


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
