"""Offline, the commands a user runs to look around tell the truth, and say how old it is.

- ``pip list --outdated`` and ``pip index versions`` report what the recorded index data lists
  (every version, not only those whose files are local), with the age of that data; installing
  still chooses only versions whose files are local.
- ``--prefer-offline`` says how old the index data it chose is, in the summary and the report.
- An outage is said once, in one line, however many hosts are down; the summary names them all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from testbed import IndexServer, clone_venv, outage
from tests.helpers import (
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
)


def test_list_outdated_offline_reports_the_recorded_index_data(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "-i", index.url, "pipff-alpha==1.0", env=env).check()
    online = venv.pipff("list", "--outdated", "-i", index.url, env=env).check()
    assert "pipff-alpha" in online.stdout and "2.0" in online.stdout, online.describe()
    with outage("refused", index):
        offline = venv.pipff("list", "--outdated", "-i", index.url, env=env)
    assert offline.returncode == 0, offline.describe()
    rows = [line.split() for line in offline.stdout.splitlines()]
    assert ["pipff-alpha", "1.0", "2.0", "wheel"] in rows, offline.describe()
    # One line says how old the index data is (issue 23: not a line per installed project).
    assert re.search(
        r"^pip-ff: index data of \d+ projects? recorded .+ ago \(pip-ff's record\); -v names each$",
        offline.output,
        re.MULTILINE,
    ), offline.describe()
    assert "newest listed there" not in offline.output, offline.describe()


def test_index_versions_offline_lists_every_recorded_version(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "-i", index.url, "pipff-alpha==1.0", env=env).check()
    with outage("refused", index):
        listed = venv.pipff("index", "versions", "-i", index.url, "pipff-alpha", env=env)
        # Installing still takes only what is local: 2.0's file was never downloaded.
        other = clone_venv(template, tmp_path / "other")
        install = other.pipff("install", "-i", index.url, "pipff-alpha", env=env)
    assert listed.returncode == 0, listed.describe()
    assert "Available versions: 2.0, 1.1, 1.0" in listed.stdout, listed.describe()
    assert install.returncode == 0, install.describe()
    assert other.installed()["pipff-alpha"] == "1.0"


def test_prefer_offline_says_how_old_its_index_data_is(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-alpha", env=env).check()
    venv = clone_venv(template, tmp_path / "v")
    report = tmp_path / "report.json"
    index.clear_log()
    result = venv.pipff(
        "install", "--prefer-offline", "--fallback-report", report, "-i", index.url,
        "pipff-alpha", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert index.requested() == []  # everything was local
    # The newest version was chosen: nothing to act on but the data's age (-v names each).
    assert "pip-ff: index data of 2 projects recorded" in result.output, result.describe()
    alpha = next(
        d for d in json.loads(report.read_text())["distributions"] if d["name"] == "pipff-alpha"
    )
    assert alpha["stale_index_data"] is True
    assert alpha["index_data"]["newest_listed"] == "2.0"
    assert alpha["index_data"]["age_seconds"] >= 0


def test_an_outage_is_said_once_in_one_line(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """The primary and its mirror both refused: one warning line, and a summary naming both."""
    warm = clone_venv(template, tmp_path / "warm")
    warm.pipff("install", "-i", index.url, "pipff-alpha", env=env).check()
    with IndexServer(index.dist_dir) as mirror:
        mirror_url = mirror.url
    venv = clone_venv(template, tmp_path / "v")
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-index-url", mirror_url, "pipff-alpha", env=env
        )
    assert result.returncode == 0, result.describe()
    warnings = [line for line in result.output.splitlines() if "is unreachable (" in line]
    assert len(warnings) == 1, result.describe()
    summary = next(line for line in result.output.splitlines() if "finished from local" in line)
    assert f"127.0.0.1:{index.port}" in summary and f"127.0.0.1:{mirror.port}" in summary
