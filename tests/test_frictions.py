"""A newcomer's frictions (issue 23, item 3): flags under ``PIPFF=0``, local paths in the summary,
``store check``'s verdicts, one meaning of ``--cache-dir``, a summary to act on, small outputs.

Each test drives the real pip-ff in a venv against the test bed's index, as a user would.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pip_offline_fallback import cli
from pip_offline_fallback.config import Mode
from pip_offline_fallback.wording import size_text
from testbed import IndexServer, Venv, build_wheel, outage
from tests.helpers import age_record, wheelhouse_of

DAY = 86400


def _pipff_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("pip-ff: ")]


# -- flags win over PIPFF=0 ----------------------------------------------------------------------


def test_a_mode_flag_wins_over_the_kill_switch() -> None:
    for flag, mode in (("--offline", Mode.OFFLINE), ("--prefer-offline", Mode.PREFER_OFFLINE)):
        options, _ = cli.split_args([flag, "install", "x"])
        settings = cli.resolve(options, {"PIPFF": "0"})
        assert settings is not None and settings.mode is mode, flag
    options, _ = cli.split_args(["install", "x"])
    assert cli.resolve(options, {"PIPFF": "0"}) is None  # without a flag it still is one


@pytest.mark.parametrize("flag", ["--offline", "--prefer-offline"])
def test_offline_flags_under_pipff_0_open_no_connection(
    venv: Venv, env: dict[str, str], index: IndexServer, flag: str
) -> None:
    venv.pipff("download", "-d", venv.path / "dl", "-i", index.url, "pipff-gamma", env=env).check()
    index.clear_log()
    result = venv.pipff(flag, "install", "-i", index.url, "pipff-gamma", env=dict(env, PIPFF="0"))
    assert result.returncode == 0, result.describe()
    assert index.requested() == [], result.describe()  # the index is up, and never asked
    assert "Successfully installed pipff-gamma-1.0" in result.stdout
    assert any(line.startswith("pip-ff: finished") for line in _pipff_lines(result.output))


def test_offline_under_pipff_0_fails_without_a_connection_when_nothing_is_local(
    venv: Venv, env: dict[str, str], index: IndexServer
) -> None:
    result = venv.pipff(
        "--offline", "install", "-i", index.url, "pipff-gamma", env=dict(env, PIPFF="0")
    )
    assert result.returncode == 1, result.describe()
    assert index.requested() == []
    assert "ERROR: pip-ff: no local copy satisfies pipff-gamma" in result.stderr


# -- file:// indexes and --find-links are sources ------------------------------------------------


def _file_index(dist_dir: Path, root: Path, project: str) -> str:
    """A static PEP 503 index on disk holding ``project``'s wheels; returns its file:// URL."""
    page = root / "simple" / project
    page.mkdir(parents=True)
    links = [
        f'<a href="{wheel.resolve().as_uri()}">{wheel.name}</a>'
        for wheel in sorted(dist_dir.glob(f"{project.replace('-', '_')}-*.whl"))
    ]
    (page / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>\n")
    return (root / "simple").as_uri() + "/"


def test_file_indexes_and_find_links_are_counted_and_named(
    venv: Venv, env: dict[str, str], index: IndexServer, tmp_path: Path
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    for wheel in index.dist_dir.glob("pipff_beta-1.5-*.whl"):
        (links / wheel.name).write_bytes(wheel.read_bytes())
    file_index = _file_index(index.dist_dir, tmp_path / "static", "pipff-gamma")
    report = tmp_path / "report.json"
    result = venv.pipff(
        "--offline", "install", "-i", file_index, "--find-links", links,
        "--fallback-report", report, "pipff-gamma", "pipff-beta",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    summary = _pipff_lines(result.output)
    assert summary[0].startswith("pip-ff: finished from local sources"), result.output
    assert summary[0].endswith("distributions: 2 from a file:// index or --find-links"), summary
    data = json.loads(report.read_text())
    assert [(d["name"], d["source"]) for d in data["distributions"]] == [
        ("pipff-beta", "local-path"),
        ("pipff-gamma", "local-path"),
    ]
    # Online and reachable, a --find-links install is plain pip: no summary, still reported.
    build_wheel(links, "pipff-linksonly", "1.0")
    online = venv.pipff(
        "install", "-i", index.url, "--find-links", links, "--fallback-report", report,
        "pipff-linksonly", env=env,
    )  # fmt: skip
    assert online.returncode == 0, online.describe()
    assert _pipff_lines(online.output) == []
    data = json.loads(report.read_text())
    assert data["fallback_engaged"] is False
    assert [(d["name"], d["source"]) for d in data["distributions"]] == [
        ("pipff-linksonly", "local-path")
    ]


# -- store check ---------------------------------------------------------------------------------


def _rows(stdout: str) -> list[str]:
    return [" ".join(line.split()) for line in stdout.splitlines()]


def test_check_says_no_for_a_requirement_whose_dependency_is_missing(
    venv: Venv, env: dict[str, str], index: IndexServer
) -> None:
    # pipff-alpha 2.0 is local, its dependency pipff-beta is not.
    venv.pipff(
        "download", "--no-deps", "-d", venv.path / "dl", "-i", index.url, "pipff-alpha==2.0",
        env=env,
    ).check()  # fmt: skip
    venv.pipff("download", "-d", venv.path / "dl", "-i", index.url, "pipff-gamma", env=env).check()
    # Another requirement fails first: the run never reaches pipff-alpha's dependencies.
    result = venv.pipff(
        "store", "check", "-i", index.url, "pipff-zeta==9", "pipff-alpha==2.0", "pipff-gamma",
        env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.describe()
    lines = _rows(result.stdout)
    assert any(
        line.startswith("pipff-alpha==2.0 NO ") and "pipff-beta" in line for line in lines
    ), result.stdout
    assert "pipff-gamma yes pipff-gamma 1.0" in lines, result.stdout
    assert "1 can be installed offline; 2 can't." in lines, result.stdout
    assert index.requested() == [] or all("pipff-zeta" not in p for p in index.requested())


def test_check_names_a_local_sdist_that_only_binary_excludes(
    venv: Venv, env: dict[str, str], index: IndexServer
) -> None:
    venv.pipff(
        "download", "--no-deps", "-d", venv.path / "dl", "-i", index.url, "pipff-sdistonly",
        env=env,
    ).check()  # fmt: skip
    with outage("refused", index):
        result = venv.pipff(
            "store", "check", "-i", index.url, "--only-binary", ":all:", "pipff-sdistonly",
            env=env,
        )  # fmt: skip
        install = venv.pipff(
            "install", "-i", index.url, "--only-binary", ":all:", "pipff-sdistonly", env=env
        )
    assert result.returncode == 1, result.describe()
    assert "local versions: none" not in result.stdout, result.stdout
    assert "1.0 (excluded by --only-binary)" in result.stdout, result.stdout
    assert install.returncode == 1, install.describe()
    assert "1.0 (excluded by --only-binary)" in install.stderr, install.stderr


# -- one meaning of --cache-dir ------------------------------------------------------------------


def test_store_shows_the_record_an_install_with_the_same_cache_dir_used(
    venv: Venv, env: dict[str, str], index: IndexServer, tmp_path: Path, cache_dir: Path
) -> None:
    other = tmp_path / "tool-cache"
    venv.pipff("install", "--cache-dir", other, "-i", index.url, "pipff-gamma", env=env).check()
    info = json.loads(
        venv.pipff("store", "info", "--json", "--cache-dir", other, env=env).check().stdout
    )
    assert info["store"] == str(cache_dir / "pip-ff")
    assert info["pip_cache_dir"] == str(other)
    assert "pipff_gamma-1.0-py3-none-any.whl" in {e["filename"] for e in info["entries"]}
    human = venv.pipff("store", "info", "--cache-dir", other, env=env).check().stdout
    assert f"pip-ff store: {cache_dir / 'pip-ff'}" in human
    assert "empty" not in human
    # store check with it is served from that record, and from pip's caches in the other dir.
    with outage("refused", index):
        check = venv.pipff(
            "store", "check", "--cache-dir", other, "-i", index.url, "pipff-gamma", env=env
        )
    assert check.returncode == 0, check.describe()


# -- a summary to act on -------------------------------------------------------------------------


def test_summary_names_only_what_to_act_on_and_v_names_everything(
    venv: Venv, env: dict[str, str], index: IndexServer, tmp_path: Path
) -> None:
    dl = venv.path / "dl"
    for requirement in ("pipff-gamma", "pipff-alpha==1.1", "pipff-epsilon", "pipff-beta==1.5"):
        venv.pipff("download", "--no-deps", "-d", dl, "-i", index.url, requirement, env=env).check()
    requirements = ["pipff-gamma", "pipff-epsilon", "pipff-alpha", "pipff-beta==1.5"]
    report = tmp_path / "report.json"
    with outage("refused", index):
        result = venv.pipff(
            "install", "-i", index.url, "--fallback-report", report, *requirements, env=env
        )
        verbose = venv.pipff(
            "install", "-v", "--force-reinstall", "-i", index.url, *requirements, env=env
        )
    assert result.returncode == 0, result.describe()
    assert verbose.returncode == 0, verbose.describe()
    summary = _pipff_lines(result.output)
    assert summary[0].startswith("pip-ff: finished from local sources"), summary
    # pipff-alpha 1.1 was chosen while the index data lists 2.0: the one project to act on.
    # (pipff-epsilon 2.0 needs another Python: 1.0 is the newest for this one.)
    assert re.fullmatch(
        r"pip-ff: pipff-alpha: 1\.1 from index data recorded \d+ \w+ ago "
        r"\(pip-ff's record\); newest listed there: 2\.0",
        summary[1],
    ), summary
    # How old the index data is: one line, however many projects (an exact pin needs none).
    assert re.fullmatch(
        r"pip-ff: index data of 3 projects recorded (\d+ \w+ to )?\d+ \w+ ago "
        r"\(pip-ff's record\); "
        r"-v names each",
        summary[2],
    ), summary
    assert len(summary) == 3, summary
    # -v and the report keep every project.
    for project in ("pipff-gamma", "pipff-epsilon", "pipff-alpha", "pipff-beta"):
        assert any(
            line.startswith(f"pip-ff: {project}: ") for line in verbose.output.splitlines()
        ), (project, verbose.output)
    data = json.loads(report.read_text())
    assert {d["name"] for d in data["distributions"] if d["stale_index_data"]} == {
        "pipff-gamma", "pipff-epsilon", "pipff-alpha", "pipff-beta",
    }  # fmt: skip
    assert [(i["project"], i["newest_listed"]) for i in data["index_data"]] == [
        ("pipff-alpha", "2.0"), ("pipff-beta", "1.5"), ("pipff-epsilon", "1.0"),
        ("pipff-gamma", "1.0"),
    ]  # fmt: skip


def test_prefer_offline_says_when_the_network_served_too(
    venv: Venv, env: dict[str, str], index: IndexServer
) -> None:
    venv.pipff("download", "-d", venv.path / "dl", "-i", index.url, "pipff-gamma", env=env).check()
    result = venv.pipff(
        "--prefer-offline", "install", "-i", index.url, "pipff-gamma", "pipff-zeta==1.0", env=env
    )
    assert result.returncode == 0, result.describe()
    summary = _pipff_lines(result.output)
    assert summary[0].startswith("pip-ff: finished from local sources and the network"), summary
    assert "1 from the network" in summary[0] and "1 from pip-ff's record" in summary[0]


# -- small wrong outputs -------------------------------------------------------------------------


def test_prune_dry_run_gives_the_size_the_removal_frees(
    venv: Venv, env: dict[str, str], index: IndexServer, cache_dir: Path
) -> None:
    # A wheel of about 11 kB, as in the report (random text: it doesn't compress away).
    random_text = os.urandom(10_000).hex()
    build_wheel(index.dist_dir, "pipff-big", "1.0", modules={"pipff_big.py": random_text})
    venv.pipff(
        "download", "--no-deps", "-d", venv.path / "dl", "-i", index.url, "pipff-big", env=env
    ).check()
    assert age_record(cache_dir, 10 * DAY) > 0
    name = "pipff_big-1.0-py3-none-any.whl"
    (entry_file,) = [
        path
        for path in (cache_dir / "pip-ff" / "v1" / "entries").glob("*/*.json")
        if json.loads(path.read_text())["url"].endswith(name)
    ]
    wheel_size = (index.dist_dir / name).stat().st_size
    assert wheel_size > 1000 > entry_file.stat().st_size  # sizes that size_text tells apart
    dry = venv.pipff("store", "prune", "--older-than", "7d", "--dry-run", env=env).check()
    (line,) = [ln for ln in dry.stdout.splitlines() if f"{name} (fetched" in ln]
    # The entry goes with its body: what the line frees is the wheel plus its entry file.
    expected = size_text(wheel_size + entry_file.stat().st_size)
    assert re.search(rf"ago\), {re.escape(expected)}: older than the limit$", line), line
    assert not [ln for ln in dry.stdout.splitlines() if ln.startswith("would remove body")], (
        dry.stdout
    )
    # The total is what the real prune frees.
    real = json.loads(
        venv.pipff("store", "prune", "--json", "--older-than", "7d", env=env).check().stdout
    )
    assert f"would free {size_text(real['freed'])}" in dry.stdout, dry.stdout


def test_prune_without_a_criterion_says_how_to_give_one(
    venv: Venv, env: dict[str, str], index: IndexServer
) -> None:
    venv.pipff("download", "-d", venv.path / "dl", "-i", index.url, "pipff-gamma", env=env).check()
    result = venv.pipff("store", "prune", env=env)
    assert result.returncode == 0, result.describe()
    assert "--older-than" in result.stderr and "--max-size" in result.stderr, result.describe()
    assert "--keep" in result.stderr and "--damaged" in result.stderr


def test_a_wheelhouse_that_does_not_exist_is_an_error(
    venv: Venv, env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "nonexistent"
    result = venv.pipff("--wheelhouse", missing, "install", "pipff-gamma", env=env)
    assert result.returncode == 2, result.describe()
    assert result.stderr.startswith(f"ERROR: pip-ff: --wheelhouse {missing}: "), result.stderr
    assert len(result.stderr.splitlines()) == 1
    a_file = tmp_path / "file"
    a_file.write_text("")
    not_dir = venv.pipff("--wheelhouse", a_file, "install", "pipff-gamma", env=env)
    assert not_dir.returncode == 2, not_dir.describe()
    assert "not a directory" in not_dir.stderr


def test_a_wheelhouse_variable_naming_no_directory_is_said_once(
    venv: Venv, env: dict[str, str], tmp_path: Path, index: IndexServer, dists: Any
) -> None:
    """PIPFF_WHEELHOUSE is set once for many runs (a profile, a CI variable) and may name a
    mount that is away: pip-ff says so in one line and goes on with the rest."""
    missing = tmp_path / "away"
    wheelhouse = wheelhouse_of(dists.dist_dir, tmp_path / "wh", "pipff_gamma-*.whl")
    variables = dict(env, PIPFF_WHEELHOUSE=os.pathsep.join([str(missing), str(wheelhouse)]))
    with outage("refused", index) as extra:
        for run in (venv.pipff, venv.pip):
            args = ["install", "-i", index.url, *extra, "pipff-gamma"]
            result = run(*args, env=dict(variables, PIPFF="1"))
            assert result.returncode == 0, result.describe()  # from the wheelhouse that is there
            said = [line for line in result.stderr.splitlines() if str(missing) in line]
            assert said == [
                f"WARNING: pip-ff: PIPFF_WHEELHOUSE names {missing}, which is no directory; "
                "not used"
            ], result.stderr
            venv.pip("uninstall", "-y", "pipff-gamma", env=env).check()


def test_store_usage_errors_name_pip_ff_once(venv: Venv, env: dict[str, str]) -> None:
    for args in (["bogus"], ["prune", "--bogus"]):
        result = venv.pipff("store", *args, env=env)
        assert result.returncode == 2, result.describe()
        assert result.stderr.count("pip-ff") == 1, result.stderr
        assert result.stderr.startswith("ERROR: pip-ff: store"), result.stderr


def test_an_unrecognised_pipff_value_under_plain_pip_is_a_warning(
    venv: Venv, env: dict[str, str]
) -> None:
    result = venv.pip("--version", env=dict(env, PIPFF="bogus"))
    result = venv.pip("list", env=dict(env, PIPFF="bogus"))
    assert result.returncode == 0, result.describe()
    (line,) = [line for line in result.stderr.splitlines() if "bogus" in line]
    assert line.startswith("WARNING: pip-ff: ignoring PIPFF='bogus'"), result.stderr
