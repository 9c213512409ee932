"""Fixtures of pip-ff's test bed (see testbed/). Safe under pytest-xdist.

Session scoped (per xdist worker): ``dists`` (the standard projects), ``ca`` (a trustme CA),
``tool_wheels`` (the wheels venvs are made from), ``template`` (the template venv).
Per test: ``index`` / ``pypi_index`` / ``https_index`` (started index servers over the test's own
view of the standard projects), ``cache_dir``, ``env`` (the isolated environment) and ``venv``
(a fresh clone of the template whose default environment is ``env``).
"""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pluggy
import pytest

from testbed import (
    CertificateAuthority,
    IndexServer,
    ProjectSet,
    ToolWheels,
    Venv,
    clone_venv,
    isolated_env,
    make_ca,
    make_template,
    standard_projects,
    unshare_available,
)
from tests.serving import per_user_state_dir, stop_per_user_serve


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "netns: needs `unshare -n` (a fresh network namespace); skipped where not permitted",
    )


_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_CALL_REPORT] = report


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("netns") is not None and not unshare_available():
        pytest.skip("`unshare -n` is not permitted here (needs root or user namespaces)")


# -- distributions and indexes -------------------------------------------------------------------


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> ProjectSet:
    """The standard projects (see testbed.dists.standard_projects), built once per session."""
    return standard_projects(tmp_path_factory.mktemp("dists"))


def _dist_view(dists: ProjectSet, view: Path) -> Path:
    """A per-test directory of symlinks to the session's files (nothing is copied).

    A test may add files to its view (``build_wheel(index.dist_dir, ...)``), delete them, or
    replace them (``os.replace``; build_wheel/build_sdist write that way), without touching
    other tests. It must never write *through* a symlink (``path.write_bytes`` on an existing
    file): that would change the session's shared file. The index fixtures check for that at
    teardown, rebuild the shared files, and fail the test that did it.
    """
    view.mkdir(parents=True)
    for source in dists.dist_dir.iterdir():
        (view / source.name).symlink_to(source)
    return view


def _snapshot(dists: ProjectSet) -> dict[str, tuple[int, int]]:
    return {
        path.name: (path.stat().st_size, path.stat().st_mtime_ns)
        for path in dists.dist_dir.iterdir()
    }


def _serve(server: IndexServer, dists: ProjectSet) -> Iterator[IndexServer]:
    before = _snapshot(dists)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.release_port()
        after = _snapshot(dists)
        if after != before:
            changed = sorted(set(before.items()) ^ set(after.items()))
            standard_projects(dists.dist_dir)  # deterministic: the same bytes again
            pytest.fail(
                "this test changed the session's shared distributions through its index view "
                f"({changed}); replace files (os.replace, build_wheel) instead of writing "
                "through the view's symlinks",
                pytrace=False,
            )


@pytest.fixture
def index(dists: ProjectSet, tmp_path: Path) -> Iterator[IndexServer]:
    """A started http index without caching headers (like many private indexes)."""
    view = _dist_view(dists, tmp_path / "index-dists")
    yield from _serve(IndexServer(view, cache_headers="none", yanked=dists.yanked), dists)


@pytest.fixture
def growing_index(dists: ProjectSet, tmp_path: Path) -> Iterator[IndexServer]:
    """An index without pipff-alpha 1.1 and 2.0 (alpha 1.0 is the newest):
    ``tests.helpers.publish_alpha_2`` adds them, a release since the warm run."""
    view = _dist_view(dists, tmp_path / "growing-dists")
    for newer in ("pipff_alpha-1.1*", "pipff_alpha-2.0*"):
        for link in view.glob(newer):
            link.unlink()
    yield from _serve(IndexServer(view, cache_headers="none", yanked=dists.yanked), dists)


@pytest.fixture
def pypi_index(dists: ProjectSet, tmp_path: Path) -> Iterator[IndexServer]:
    """A started http index sending PyPI's caching headers."""
    view = _dist_view(dists, tmp_path / "pypi-index-dists")
    yield from _serve(IndexServer(view, cache_headers="pypi", yanked=dists.yanked), dists)


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    """A trustme certificate authority (the test skips when trustme is not installed)."""
    pytest.importorskip("trustme")
    return make_ca()


@pytest.fixture
def https_index(
    dists: ProjectSet, tmp_path: Path, ca: CertificateAuthority
) -> Iterator[IndexServer]:
    """A started https index (``url`` on localhost) with PyPI's caching headers.

    Pass ``--cert str(https_index.ca_bundle)`` to pip.
    """
    view = _dist_view(dists, tmp_path / "https-index-dists")
    server = IndexServer(view, cache_headers="pypi", https=ca, yanked=dists.yanked)
    yield from _serve(server, dists)


# -- virtual environments ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tool_wheels() -> ToolWheels:
    """Wheels of pip and the project (see testbed.venvs.ToolWheels)."""
    return ToolWheels.locate()


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, tool_wheels: ToolWheels) -> Path:
    """The template venv, one per session (per xdist worker)."""
    return make_template(tmp_path_factory.mktemp("template") / "venv", tool_wheels)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """This test's own pip cache directory (PIP_CACHE_DIR)."""
    path = tmp_path / "pip-cache"
    path.mkdir()
    return path


@pytest.fixture
def env(cache_dir: Path) -> Iterator[dict[str, str]]:
    """The isolated environment for this test's pip runs (see testbed.venvs.isolated_env), with
    PIPFF_RAISE_BUGS=1: an error pip-ff's code doesn't expect fails the test (see
    docs/development.md).

    A per-user serve that a ``pip-ff run`` of the test started in this record is ended after
    it, whether or not the test asked for that: a serve outlives its command by design."""
    environment = isolated_env(cache_dir, PIPFF_RAISE_BUGS="1")
    yield environment
    if (per_user_state_dir(environment) / "state").exists():
        stop_per_user_serve(environment)


@pytest.fixture
def venv(
    template: Path, tmp_path: Path, env: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[Venv]:
    """A fresh clone of the template venv; its runs use ``env`` unless given another.

    Removed after a test that passed (a venv is ~20 MB and ~1300 files, and pytest keeps the
    temporary directories of the last three sessions); kept after a failure, for a look.
    """
    clone = clone_venv(template, tmp_path / "venv", env)
    yield clone
    report = request.node.stash.get(_CALL_REPORT, None)
    if report is not None and report.passed:
        shutil.rmtree(clone.path, ignore_errors=True)
