"""The line tox's plugin prints from one env's pip-ff reports (issue 32, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

from pip_offline_fallback.envreport import EnvReports


def _report(path: Path, *sources: str, engaged: bool = True, built: tuple[str, ...] = ()) -> Path:
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
                "build_distributions": [{"name": "b", "source": s} for s in built],
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


def test_build_isolations_distributions_are_counted(tmp_path: Path) -> None:
    """An sdist's build backend that came from local sources counts, as install's summary
    counts it (it used to be left out: an env built online with a recorded backend said
    nothing)."""
    reports = EnvReports()
    reports.read(_report(tmp_path / "a.json", "network", engaged=False, built=("pip-ff-record",)),
                 remove=True)  # fmt: skip
    line = reports.line("py") or ""
    assert line.endswith(
        "distributions: 1 from the network; build environments: 1 from pip-ff's record"
    ), line


def test_a_users_own_report_directory_gives_the_line(tmp_path: Path) -> None:
    """``PIPFF_REPORT`` set by the user to a directory (pip-ff writes a file there for each
    run), as tox's plugin reads it: the env's new reports are read and left in place, an
    earlier run's are not this env's. (The directory used to be read as a file: no line.)"""
    own = tmp_path / "reports"
    own.mkdir()
    _report(own / "pip-ff-report-1-1.json", "pip-ff-record")  # an earlier run's
    reports = EnvReports()
    reports.skip_existing(own)  # before the env's first install
    _report(own / "pip-ff-report-2-2.json", "wheelhouse")
    reports.read_all(own, remove=False)  # before the next
    _report(own / "pip-ff-report-3-3.json", "pip-ff-record")
    reports.read_all(own, remove=False)  # the env is ready
    line = reports.line("py") or ""
    assert line.endswith("distributions: 1 from pip-ff's record, 1 from a wheelhouse"), line
    assert len(list(own.iterdir())) == 3  # the user's: left in place
