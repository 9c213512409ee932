"""Index pages whose attribute values are unquoted (``<a href=/files/x.whl#sha256=...>``).

That is valid HTML, and pip reads it. Every check pip-ff makes of a page (the portal doubt, the
mirror clash, the record's inventory, serve) must read the same links pip reads: a page pip
reads must never be taken for a login page, and a mirror's other bytes must still be seen (end
to end: test_outage_rule.py's mirror clash, on unquoted pages too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pip_offline_fallback import plausible
from pip_offline_fallback.serve.pages import parse
from testbed import IndexServer, ProjectSet, clone_venv, outage
from tests.helpers import (
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
    pipff_versions,
)

SHA = "ab" * 32
OTHER = "cd" * 32
UNQUOTED = (
    b"<!DOCTYPE html><html><body>\n"
    b"<a href=/files/pipff_alpha-1.0-py3-none-any.whl#sha256=" + SHA.encode() + b" "
    b"data-requires-python=&gt;=3.8>pipff_alpha-1.0-py3-none-any.whl</a><br>\n"
    # Not closed: pip reads an anchor at its start tag.
    b"<a href=/files/pipff-alpha-1.0.tar.gz#sha256=" + OTHER.encode() + b">\n"
    b"</body></html>\n"
)


# -- every reader of a page reads the links pip reads -------------------------------------------


def test_an_unquoted_page_is_no_login_page() -> None:
    assert plausible.doubt_about_page("pipff-alpha", "text/html", UNQUOTED) is None
    assert plausible.doubt_about_page("pipff-beta", "text/html", UNQUOTED) is not None


def test_an_unquoted_page_lists_its_hashes() -> None:
    assert plausible.listed_hashes(UNQUOTED) == {
        "pipff_alpha-1.0-py3-none-any.whl": SHA,
        "pipff-alpha-1.0.tar.gz": OTHER,
    }
    listed = plausible.listed_sha256s("http://127.0.0.1:9/simple/pipff-alpha/", UNQUOTED)
    assert listed == {
        "http://127.0.0.1:9/files/pipff_alpha-1.0-py3-none-any.whl": SHA,
        "http://127.0.0.1:9/files/pipff-alpha-1.0.tar.gz": OTHER,
    }


def test_the_clash_check_reads_unquoted_pages() -> None:
    quoted = b'<a href="/files/pipff_alpha-1.0-py3-none-any.whl#sha256=' + OTHER.encode() + b'">'
    unquoted, other = plausible.listed_hashes(UNQUOTED), plausible.listed_hashes(quoted)
    assert plausible.clashing_file(unquoted, other) == (
        "pipff_alpha-1.0-py3-none-any.whl",
        SHA,
        OTHER,
    )
    assert plausible.clashing_file(other, unquoted) == (
        "pipff_alpha-1.0-py3-none-any.whl",
        OTHER,
        SHA,
    )


def test_serve_reads_unquoted_and_unclosed_anchors() -> None:
    page = parse(UNQUOTED, "text/html", "http://127.0.0.1:9/simple/pipff-alpha/", "pipff-alpha")
    assert [(f.filename, f.sha256) for f in page.files] == [
        ("pipff_alpha-1.0-py3-none-any.whl", SHA),
        ("pipff-alpha-1.0.tar.gz", OTHER),
    ]
    assert page.files[0].requires_python == ">=3.8"
    assert page.files[0].url == "http://127.0.0.1:9/files/pipff_alpha-1.0-py3-none-any.whl"


# -- end to end: an index and a mirror that write their pages that way -------------------------


@pytest.fixture
def unquoted_index(index: IndexServer) -> IndexServer:
    index.unquoted_links = True
    return index


def test_an_unquoted_index_is_recorded_and_serves_offline(
    template: Path, tmp_path: Path, unquoted_index: IndexServer, env: dict[str, str]
) -> None:
    args = ["install", "-i", unquoted_index.url, "pipff-alpha"]
    warm = clone_venv(template, tmp_path / "warm")
    online = warm.pipff(*args, env=env)
    assert online.returncode == 0, online.describe()
    assert "login page" not in online.output, online.describe()
    venv = clone_venv(template, tmp_path / "v")
    with outage("refused", unquoted_index):
        result = venv.pipff(*args, env=env)
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv) == pipff_versions(warm)
    assert pipff_versions(venv)["pipff-alpha"] == "2.0"


@pytest.fixture
def unquoted_mirror(dists: ProjectSet) -> Iterator[IndexServer]:
    with IndexServer(dists.dist_dir, yanked=dists.yanked) as server:
        server.unquoted_links = True
        yield server


def test_an_unquoted_mirror_is_used(
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    unquoted_mirror: IndexServer,
    env: dict[str, str],
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-index-url", unquoted_mirror.url,
            "--fallback-report", str(report), "pipff-alpha", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert pipff_versions(venv)["pipff-alpha"] == "2.0"
    data = json.loads(report.read_text())
    assert [(f["url"], f["state"]) for f in data["fallback_indexes"]] == [
        (unquoted_mirror.url, "used")
    ]
