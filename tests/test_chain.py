"""The fallback chain: primary index -> fallback indexes (mirrors), in order -> local sources."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import IndexServer, ProjectSet, clone_venv, closed_port_url, outage


@pytest.fixture
def mirror(dists: ProjectSet) -> Iterator[IndexServer]:
    with IndexServer(dists.dist_dir, yanked=dists.yanked) as server:
        yield server


def test_primary_up_mirror_never_asked(
    template: Path, tmp_path: Path, index: IndexServer, mirror: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff(
        "install", "-i", index.url, "--fallback-index-url", mirror.url, "pipff-alpha", env=env
    ).check()
    assert mirror.connections == 0  # never merged with a reachable primary


def test_primary_down_mirror_serves(
    template: Path, tmp_path: Path, index: IndexServer, mirror: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    dead_mirror = closed_port_url()
    with outage("refused", index):
        started = time.monotonic()
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-report", str(report),
            "--fallback-index-url", dead_mirror, "--fallback-index-url", mirror.url,
            "pipff-alpha", "pipff-beta[fast]", env=env,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.output
    assert venv.installed()["pipff-alpha"] == "2.0"
    data = json.loads(report.read_text())
    assert [(f["url"], f["state"]) for f in data["fallback_indexes"]] == [
        (dead_mirror, "unreachable"),
        (mirror.url, "used"),
    ]
    assert {d["source"] for d in data["distributions"]} == {"fallback-index"}
    assert all(str(mirror.port) in d["url"] for d in data["distributions"])
    assert "fallback indexes:" in result.output
    # Nothing was recorded before: the primary cost one refused connection, the dead mirror too.
    assert elapsed < 60, elapsed


def test_primary_and_mirror_down_use_local_sources(
    template: Path, tmp_path: Path, index: IndexServer, mirror: IndexServer, env: dict[str, str]
) -> None:
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-alpha", env=env).check()
    mirror.stop()
    venv = clone_venv(template, tmp_path / "v")
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-index-url", mirror.url, "pipff-alpha", env=env
        )
    assert result.returncode == 0, result.output
    assert venv.installed() == warm.installed()
    # Said once, in one line; the summary names both (primary, mirror).
    assert result.output.count("is unreachable (connection refused)") == 1, result.output
    assert result.output.count("(connection refused)") >= 3, result.output


def test_what_came_through_the_mirror_serves_when_both_are_down(
    template: Path, tmp_path: Path, index: IndexServer, mirror: IndexServer, env: dict[str, str]
) -> None:
    """Everything local was recorded from the mirror (the primary was down all along)."""
    args = ["install", "-i", index.url, "--fallback-index-url", mirror.url, "--retries", "0"]
    warm = clone_venv(template, tmp_path / "warm")
    index.stop()
    warm.pipff(*args, "pipff-alpha", "pipff-beta[fast]", env=env).check()
    mirror.stop()
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    result = venv.pipff(
        *args, "--fallback-report", str(report), "pipff-alpha", "pipff-beta[fast]", env=env
    )
    assert result.returncode == 0, result.output
    assert venv.installed() == warm.installed()
    data = json.loads(report.read_text())
    assert [(f["url"], f["state"]) for f in data["fallback_indexes"]] == [
        (mirror.url, "unreachable")
    ]
    assert {d["source"] for d in data["distributions"]} == {"pip-ff-record"}
    assert all(str(mirror.port) in d["url"] for d in data["distributions"])


def test_fallback_index_variable(
    template: Path, tmp_path: Path, index: IndexServer, mirror: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    index.stop()
    result = venv.pipff(
        "install", "-i", index.url, "pipff-gamma",
        env=dict(env, PIPFF_FALLBACK_INDEX_URL=f"{closed_port_url()} {mirror.url}"),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert any(path.startswith("/files/pipff_gamma") for path in mirror.requested())
