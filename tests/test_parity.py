"""Parity with pip, round 2 (issue 35): pip-ff's own words never break a script, and the offline
messages say what the record knows."""

from __future__ import annotations

import json
from pathlib import Path

from testbed import IndexServer, clone_venv, outage
from tests.helpers import (
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
)


def test_json_output_stays_parseable_offline(
    template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    """The warning, the summary and the -v lines are pip-ff's own: stderr, never stdout."""
    venv = clone_venv(template, tmp_path / "v")
    venv.pipff("install", "-i", index.url, "pipff-alpha==1.0", env=env).check()
    versions_json = "--json" in venv.pip("index", "versions", "--help", env=env).stdout
    with outage("refused", index):
        listed = venv.pipff("list", "--outdated", "--format", "json", "-i", index.url, env=env)
        verbose = venv.pipff(
            "list", "-v", "--outdated", "--format", "json", "-i", index.url, env=env
        )
        versions = None
        if versions_json:
            versions = venv.pipff("index", "versions", "pipff-alpha", "--json", "-i", index.url,
                                  env=env)  # fmt: skip
    assert listed.returncode == 0, listed.describe()
    rows = json.loads(listed.stdout)
    assert {"name": "pipff-alpha", "version": "1.0", "latest_version": "2.0",
            "latest_filetype": "wheel"} in rows, listed.describe()  # fmt: skip
    assert "pip-ff: index data of 1 project recorded" in listed.stderr, listed.describe()
    assert "pip-ff" not in listed.stdout
    assert verbose.returncode == 0, verbose.describe()
    assert [r["latest_version"] for r in json.loads(verbose.stdout)] == ["2.0"], verbose.describe()
    assert "pip-ff: pipff-alpha: index data recorded" in verbose.stderr  # a -v line
    if versions is not None:
        assert versions.returncode == 0, versions.describe()
        data = json.loads(versions.stdout)
        assert data["versions"] == ["2.0", "1.1", "1.0"], versions.describe()
        assert "pip-ff: index data of 1 project recorded" in versions.stderr
