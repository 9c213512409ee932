"""Telling the user what happened: the summary, the JSON report, --max-stale, the errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from testbed import IndexServer, clone_venv, outage
from tests.helpers import age_record, warm, wheelhouse_of


def _summary(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("pip-ff: ")]


def test_all_pinned_fallback(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    warm(template, tmp_path / "warm", index, env, "pipff-alpha==2.0", "pipff-beta==1.5")
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-report", str(report),
            "pipff-alpha==2.0", "pipff-beta==1.5", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.output
    lines = _summary(result.output)
    assert lines[0] == (
        f"pip-ff: finished from local sources (unreachable: http://127.0.0.1:{index.port} "
        "(connection refused)); distributions: 2 from pip-ff's record"
    )
    assert len(lines) == 1  # exact pins need no "what changed" line
    data = json.loads(report.read_text())
    assert data["version"] == 1
    assert data["fallback_engaged"] is True
    assert data["unreachable"] == [
        {"host": f"http://127.0.0.1:{index.port}", "cause": "connection refused"}
    ]
    by_name = {d["name"]: d for d in data["distributions"]}
    assert set(by_name) == {"pipff-alpha", "pipff-beta"}
    alpha = by_name["pipff-alpha"]
    assert alpha["version"] == "2.0" and alpha["source"] == "pip-ff-record"
    assert re.fullmatch(r"[0-9a-f]{64}", alpha["sha256"])
    assert alpha["stale_index_data"] is True
    assert alpha["index_data"]["source"] == "pip-ff-record"
    assert 0 <= alpha["index_data"]["age_seconds"] < 600


def test_unpinned_fallback_says_what_changed(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """Only 1.1's file is local; the stale page knew 2.0: the summary says both, and the age."""
    warm(template, tmp_path / "warm", index, env, "pipff-alpha==1.1")
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-report", str(report), "pipff-alpha", env=env
        )
    assert result.returncode == 0, result.output
    lines = _summary(result.output)
    assert re.fullmatch(
        r"pip-ff: pipff-alpha: 1\.1 from index data recorded \d+ seconds? ago \(pip-ff's record\); "
        r"newest listed there: 2\.0",
        lines[1],
    ), lines
    alpha = json.loads(report.read_text())["distributions"][0]
    assert alpha["version"] == "1.1"
    assert alpha["index_data"]["newest_listed"] == "2.0"
    assert alpha["index_data"]["versions_listed"] == ["1.0", "1.1", "2.0"]


def test_quiet_hides_the_summary_not_the_warning(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    warm(template, tmp_path / "warm", index, env, "pipff-gamma")
    venv = clone_venv(template, tmp_path / "v")
    with outage("refused", index):
        result = venv.pipff("install", "-q", "-i", index.url, "pipff-gamma", env=env)
    assert result.returncode == 0, result.output
    assert "is unreachable (connection refused)" in result.output
    assert "finished from local sources" not in result.output


def test_mixed_run_one_host_down_one_up(
    template: Path,
    tmp_path: Path,
    index: IndexServer,
    pypi_index: IndexServer,
    env: dict[str, str],
) -> None:
    warm(template, tmp_path / "warm", index, env, "pipff-gamma")
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--extra-index-url", pypi_index.url,
            "--fallback-report", str(report), "pipff-gamma", "pipff-zeta", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.output
    data = json.loads(report.read_text())
    assert [u["host"] for u in data["unreachable"]] == [f"http://127.0.0.1:{index.port}"]
    assert {d["name"] for d in data["distributions"]} == {"pipff-gamma", "pipff-zeta"}
    zeta = next(d for d in data["distributions"] if d["name"] == "pipff-zeta")
    assert zeta["source"] == "network"  # never recorded: it came from the index that is up
    assert str(pypi_index.port) in zeta["url"]


def test_max_stale_refuses_old_index_data(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], cache_dir: Path
) -> None:
    warm(template, tmp_path / "warm", index, env, "pipff-gamma")
    assert age_record(cache_dir, 600) > 0  # recorded ten minutes ago
    venv = clone_venv(template, tmp_path / "v")
    before = venv.installed()
    with outage("refused", index):
        refused = venv.pipff(
            "install", "-i", index.url, "--max-stale", "2s", "pipff-gamma", env=env
        )
        allowed = clone_venv(template, tmp_path / "v2").pipff(
            "install", "-i", index.url, "pipff-gamma", env=dict(env, PIPFF_MAX_STALE="1h")
        )
    assert refused.returncode != 0
    assert "Traceback" not in refused.output
    assert re.search(
        r"ERROR: pip-ff: index data for pipff-gamma is 10 minutes old, (9|10) minutes more than "
        r"--max-stale allows \(2 seconds\)",
        refused.output,
    ), refused.output
    assert venv.installed() == before
    assert allowed.returncode == 0, allowed.output


def test_report_online_and_beside_pips_own(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    ours, pips = tmp_path / "ours.json", tmp_path / "pips.json"
    venv.pipff(
        "install", "-i", index.url, "--fallback-report", str(ours), "--report", str(pips),
        "pipff-beta[fast]", env=env,
    ).check()  # fmt: skip
    data = json.loads(ours.read_text())
    assert data["fallback_engaged"] is False and data["unreachable"] == []
    assert {(d["name"], d["source"]) for d in data["distributions"]} == {
        ("pipff-beta", "network"),
        ("pipff-gamma", "network"),
    }
    assert all(re.fullmatch(r"[0-9a-f]{64}", d["sha256"]) for d in data["distributions"])
    assert {i["metadata"]["name"] for i in json.loads(pips.read_text())["install"]} == {
        "pipff-beta",
        "pipff-gamma",
    }


def test_wheelhouse_source_in_report(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str], dists: Any
) -> None:
    wheelhouse = wheelhouse_of(dists.dist_dir, tmp_path / "wh", "pipff_gamma-*.whl")
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    index.stop()
    result = venv.pipff(
        "install", "-i", index.url, "--wheelhouse", str(wheelhouse),
        "--fallback-report", str(report), "pipff-gamma", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    (gamma,) = json.loads(report.read_text())["distributions"]
    assert gamma["source"] == "wheelhouse"
    assert gamma["wheelhouse_path"] == str(wheelhouse / "pipff_gamma-1.0-py3-none-any.whl")
    assert "1 from a wheelhouse" in result.output


def test_sdist_built_earlier_comes_from_pips_wheel_cache(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """pip makes no request for an sdist whose wheel it built before: the report still says
    where it came from."""
    warm(template, tmp_path / "warm", index, env, "pipff-sdistonly")
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-report", str(report), "pipff-sdistonly",
            env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.output
    by_name = {d["name"]: d for d in json.loads(report.read_text())["distributions"]}
    assert set(by_name) == {"pipff-sdistonly", "pipff-gamma"}
    built = by_name["pipff-sdistonly"]
    assert built["source"] == "pip-wheel-cache", built
    assert built["filename"].startswith("pipff_sdistonly-1.0-") and built["version"] == "1.0"
    assert built["wheelhouse_path"] is None
    assert by_name["pipff-gamma"]["source"] == "pip-ff-record"
    assert "1 from pip's wheel cache" in result.output, result.output
