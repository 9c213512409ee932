"""Index pages whose attribute values are unquoted (``<a href=/files/x.whl#sha256=...>``).

That is valid HTML, and pip reads it. Every check pip-ff makes of a page (the portal doubt, the
mirror clash, the record's inventory, serve) must read the same links pip reads: a page pip
reads must never be taken for a login page, and a mirror's other bytes must still be seen.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pip_offline_fallback import plausible
from pip_offline_fallback.serve.pages import parse
from testbed import IndexServer, ProjectSet, Venv, build_wheel, clone_venv, outage
from tests.helpers import drop_venvs_after_success  # noqa: F401 - autouse fixture

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


def _pipff(venv: Venv) -> dict[str, str]:
    return {k: v for k, v in venv.installed().items() if k.startswith("pipff-")}


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
    assert _pipff(venv) == _pipff(warm)
    assert _pipff(venv)["pipff-alpha"] == "2.0"


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
    assert _pipff(venv)["pipff-alpha"] == "2.0"
    data = json.loads(report.read_text())
    assert [(f["url"], f["state"]) for f in data["fallback_indexes"]] == [
        (unquoted_mirror.url, "used")
    ]


def test_an_unquoted_mirrors_other_bytes_give_way_to_the_recorded_copy(
    template: Path,
    tmp_path: Path,
    unquoted_index: IndexServer,
    env: dict[str, str],
    dists: ProjectSet,
) -> None:
    """Both the primary's recorded page and the mirror's are unquoted: the mirror lists alpha
    1.0's file name with other bytes, and the recorded copy is installed, said so."""
    args = ["install", "-i", unquoted_index.url, "pipff-alpha==1.0"]
    clone_venv(template, tmp_path / "warm").pipff(*args, env=env).check()
    recorded = dists.dist_dir / "pipff_alpha-1.0-py3-none-any.whl"
    mirror_dir = tmp_path / "mirror"
    other = build_wheel(
        mirror_dir, "pipff-alpha", "1.0", modules={"pipff_alpha/__init__.py": "MIRROR = 1\n"}
    )
    assert other.name == recorded.name and other.read_bytes() != recorded.read_bytes()
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with IndexServer(mirror_dir) as mirror, outage("refused", unquoted_index):
        mirror.unquoted_links = True
        result = venv.pipff(
            *args, "--fallback-index-url", mirror.url, "--fallback-report", str(report), env=env
        )
        mirror_files = mirror.requested("/files/")
    assert result.returncode == 0, result.describe()
    assert mirror_files == [], "the mirror's file was downloaded"
    (alpha,) = json.loads(report.read_text())["distributions"]
    assert alpha["source"] == "pip-ff-record", alpha
    assert alpha["sha256"] == hashlib.sha256(recorded.read_bytes()).hexdigest(), alpha
    assert re.search(
        rf"pip-ff: {re.escape(mirror.url)} lists {recorded.name} with other bytes than the copy "
        r"recorded from .*; using the recorded copy",
        result.output,
    ), result.describe()
