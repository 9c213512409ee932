"""During a fallback, which links of a page pip can fetch locally: right, and cheap per link.

A project's index page lists every release it ever had (hundreds on PyPI, most of them sdists
whose files were never downloaded). pip-ff keeps only the candidates whose files are local; the
check runs once per page for all its links, and must cost no more than a stat or two per link.
Proven with real pip against the loopback index: the index goes away, the same pip-ff installs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import IndexServer, build_sdist, build_wheel, clone_venv, outage
from tests.helpers import warm

# Newer than the one release installed online: an unpinned install offline must not pick one.
SDIST_RELEASES = [f"1.{n}" for n in range(40)]

# Put first on a pip process's sys.path: logs the name of every temporary directory it makes.
_TEMPDIR_LOGGER = """\
import atexit, os, tempfile

_made = []
_mkdtemp = tempfile.mkdtemp


def mkdtemp(*args, **kwargs):
    path = _mkdtemp(*args, **kwargs)
    _made.append(os.path.basename(path))
    return path


def _write():
    with open(os.environ["TEMPDIRS_LOG"], "a", encoding="utf-8") as log:
        log.write("".join(name + "\\n" for name in _made))


tempfile.mkdtemp = mkdtemp
atexit.register(_write)
"""


@pytest.fixture
def many_sdists(tmp_path: Path) -> Iterator[IndexServer]:
    """An index whose one project lists a wheel (0.9) and forty newer sdist-only releases."""
    dist_dir = tmp_path / "many-dists"
    build_wheel(dist_dir, "pipff-many", "0.9")
    for version in SDIST_RELEASES:
        build_sdist(dist_dir, "pipff-many", version)
    with IndexServer(dist_dir) as server:
        yield server


def _logging_tempdirs(env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], Path]:
    hook = tmp_path / "tempdir-logger"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_TEMPDIR_LOGGER, encoding="utf-8")
    log = tmp_path / "tempdirs.log"
    return dict(env, PYTHONPATH=str(hook), TEMPDIRS_LOG=str(log)), log


def test_a_page_of_many_sdists_is_checked_without_a_wheel_cache_per_link(
    template: Path,
    tmp_path: Path,
    many_sdists: IndexServer,
    env: dict[str, str],
    cache_dir: Path,
) -> None:
    warm(template, tmp_path / "warm", many_sdists, env, "pipff-many==0.9")
    # pip built wheels before: its wheel cache exists, so every sdist link is asked of it.
    (cache_dir / "wheels").mkdir(exist_ok=True)
    counted, log = _logging_tempdirs(env, tmp_path)
    venv = clone_venv(template, tmp_path / "offline")
    with outage("refused", many_sdists):
        result = venv.pipff("install", "-i", many_sdists.url, "pipff-many", env=counted)
    assert result.returncode == 0, result.output
    # The newest release with a local file; the forty newer ones are listed, not local.
    assert venv.installed(env=env)["pipff-many"] == "0.9"
    assert "newest listed there: 1.39" in result.output, result.output
    made = log.read_text(encoding="utf-8").split()
    ephemeral = [name for name in made if name.startswith("pip-ephem-wheel-cache-")]
    # pip's install command makes its own; pip-ff used to make one more for every sdist link.
    assert len(ephemeral) <= 1, made


def _drop_recorded(cache_dir: Path, suffix: str) -> int:
    """Remove pip-ff's record entries of URLs ending with ``suffix`` (a pruned record, say)."""
    dropped = 0
    for path in (cache_dir / "pip-ff" / "v1" / "entries").glob("*/*.json"):
        if json.loads(path.read_text(encoding="utf-8"))["url"].endswith(suffix):
            path.unlink()
            dropped += 1
    return dropped


def test_an_sdist_pip_built_before_needs_no_local_file(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    """The record lost the sdist, but pip's wheel cache holds the wheel pip built from it: the
    candidate stays, and pip installs that wheel. Without the wheel, no local copy is left."""
    warm(template, tmp_path / "warm", index, env, "pipff-sdistonly")
    assert _drop_recorded(cache_dir, "/pipff_sdistonly-1.0.tar.gz") == 1
    wheels, away = cache_dir / "wheels", cache_dir / "wheels-away"
    report = tmp_path / "report.json"
    with outage("refused", index):
        wheels.rename(away)
        venv = clone_venv(template, tmp_path / "without")
        result = venv.pipff("install", "-i", index.url, "pipff-sdistonly", env=env)
        assert result.returncode != 0, result.output
        assert "pip-ff: no local copy satisfies pipff-sdistonly" in result.output, result.output
        away.rename(wheels)
        venv = clone_venv(template, tmp_path / "with")
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-report", str(report), "pipff-sdistonly",
            env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.output
    by_name = {d["name"]: d for d in json.loads(report.read_text())["distributions"]}
    assert by_name["pipff-sdistonly"]["source"] == "pip-wheel-cache", by_name
