"""The line tox's plugin prints from one env's pip-ff reports (issue 32, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

from pip_offline_fallback.envreport import EnvReports


def _report(path: Path, *sources: str, engaged: bool = True) -> Path:
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "mode": "auto",
                "fallback_engaged": engaged,
                "unreachable": [{"host": "http://127.0.0.1:9", "cause": "connection refused"}]
                if engaged
                else [],
                "distributions": [{"name": f"p{i}", "source": s} for i, s in enumerate(sources)],
            }
        )
    )
    return path


def test_reports_of_an_env_are_summed_into_one_line(tmp_path: Path) -> None:
    reports = EnvReports()
    reports.read(_report(tmp_path / "a.json", "pip-ff-record"), remove=True)
    reports.read(_report(tmp_path / "b.json", "pip-ff-record", "network"), remove=True)
    assert not list(tmp_path.iterdir())  # ours: removed once read
    assert reports.line("py") == (
        "pip-ff: tox env py built from local sources (unreachable: http://127.0.0.1:9 "
        "(connection refused)); distributions: 1 from the network, 2 from pip-ff's record"
    )


def test_no_line_online_and_a_users_report_counted_once(tmp_path: Path) -> None:
    reports = EnvReports()
    online = _report(tmp_path / "online.json", "network", engaged=False)
    reports.read(online, remove=False)
    assert reports.line("py") is None
    users = _report(tmp_path / "users.json", "wheelhouse")
    reports.read(users, remove=False)
    reports.read(users, remove=False)  # the same file, read again before the next install
    assert users.is_file()
    line = reports.line("py") or ""
    assert line.endswith("distributions: 1 from the network, 1 from a wheelhouse"), line
    reports.told = True
    assert reports.line("py") is None  # said once
    reports.read(tmp_path / "missing.json", remove=True)  # an install that wrote none
    (tmp_path / "bad.json").write_text("{")
    reports.read(tmp_path / "bad.json", remove=True)
    assert reports.line("py") is None
