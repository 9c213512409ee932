"""``pip-ff store check``: requirements read as pip reads them, and two pip runs however many
(one for all of them; when it fails, one confirming those with a local copy).

The check's tables live in test_store.py too (``test_check_says_which_can_and_why_not``); here
are the requirements files themselves: encodings, ``-r`` by relative path and by URL, options
lines, constraints, markers, and the number of pip runs a long file costs.
"""

from __future__ import annotations

import json
from pathlib import Path

from testbed import IndexServer, Venv, outage

# check -v shows each pip run it makes as this line, then pip's output.
RUN_LINE = "$ pip-ff --offline install"


def _rows(stdout: str) -> list[str]:
    return [" ".join(line.split()) for line in stdout.splitlines()]


def test_check_reads_requirements_files_as_pip_does(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv.pipff("install", "-i", index.url, "pipff-alpha==2.0", "pipff-gamma", env=env).check()
    (tmp_path / "links").mkdir()
    (tmp_path / "sub").mkdir()
    # -r inside an included file is relative to that file, not to the directory pip runs in.
    (tmp_path / "sub" / "more.txt").write_text("-r deeper.txt\npipff-gamma  # a comment\n")
    (tmp_path / "sub" / "deeper.txt").write_text("pipff-zeta==1.0\n")
    (tmp_path / "constraints.txt").write_text("pipff-alpha<2\n")
    main = tmp_path / "requirements.txt"
    # latin-1, declared as PEP 263 says: pip reads it (and pip 26 would guess from the locale).
    main.write_bytes(
        (
            "# -*- coding: latin-1 -*-\n"
            "# Requirements of the café\n"
            f"--index-url {index.url}\n"
            f"--find-links {tmp_path / 'links'}\n"
            "-c constraints.txt\n"
            "pipff-alpha>=1.0\n"
            "-r sub/more.txt\n"
            "pipff-beta[fast] ; python_version >= '3'\n"
            "pipff-never ; python_version < '3'\n"
        ).encode("latin-1")
    )
    with outage("refused", index):
        result = venv.pipff("store", "check", "-v", "-r", main, env=env)
    assert result.returncode == 1, result.describe()
    assert "Traceback" not in result.output
    # One run for all, one more confirming those with a local copy (issue 23).
    assert result.stderr.count(RUN_LINE) == 2, result.stderr
    lines = _rows(result.stdout)
    # The constraint applies: pipff-alpha<2 has no local copy (2.0 is the one recorded).
    assert (
        "pipff-alpha>=1.0 NO no local copy satisfies pipff-alpha<2,>=1.0 (local versions: 2.0)"
    ) in lines, result.stdout
    assert "pipff-zeta==1.0 NO no local copy satisfies pipff-zeta==1.0 (local versions: none)" in (
        lines
    )
    assert "pipff-gamma yes pipff-gamma 1.0" in lines
    assert any(
        line.startswith("pipff-beta[fast]") and line.endswith("yes pipff-beta 1.5")
        for line in lines
    ), result.stdout
    assert any(
        line.startswith("pipff-never") and "yes markers don't match" in line for line in lines
    ), result.stdout
    assert "3 can be installed offline; 2 can't." in lines

    # The same file without the two that can't be had: the run itself succeeds.
    main.write_bytes(
        (
            "# -*- coding: latin-1 -*-\n# café\n"
            f"--index-url {index.url}\npipff-alpha>=1.0\npipff-gamma\n"
        ).encode("latin-1")
    )
    with outage("refused", index):
        good = venv.pipff("store", "check", "--json", "-r", main, env=env)
    assert good.returncode == 0, good.describe()
    data = json.loads(good.stdout)
    assert [(r["requirement"], r["ok"], r["detail"]) for r in data["requirements"]] == [
        ("pipff-alpha>=1.0", True, ["pipff-alpha 2.0"]),
        ("pipff-gamma", True, ["pipff-gamma 1.0"]),
    ]


def test_check_of_a_long_file_makes_one_pip_run(
    venv: Venv, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    venv.pipff("install", "-i", index.url, "pipff-gamma", env=env).check()
    index.clear_log()
    requirements = tmp_path / "requirements.txt"
    missing = [f"pipff-missing-{i}" for i in range(60)]
    requirements.write_text("\n".join(["pipff-gamma", *missing]) + "\n")
    result = venv.pipff("store", "check", "-v", "-i", index.url, "-r", requirements, env=env)
    assert result.returncode == 1, result.describe()
    # One run for all, one more confirming the one with a local copy (issue 23).
    assert result.stderr.count(RUN_LINE) == 2, result.stderr
    lines = _rows(result.stdout)
    assert "pipff-gamma yes pipff-gamma 1.0" in lines
    for name in missing:
        assert f"{name} NO no local copy satisfies {name} (local versions: none)" in lines
    assert "1 can be installed offline; 60 can't." in lines
    assert index.requested() == []  # offline all along, with the index up


def test_check_says_when_only_the_whole_set_fails(
    venv: Venv, index: IndexServer, env: dict[str, str]
) -> None:
    for pin in ("pipff-alpha==1.0", "pipff-alpha==2.0"):
        venv.pipff("download", "-d", venv.path / "dl", "-i", index.url, pin, env=env).check()
    result = venv.pipff(
        "store", "check", "-v", "-i", index.url, "pipff-alpha==1.0", "pipff-alpha==2.0", env=env
    )
    assert result.returncode == 1, result.describe()
    assert result.stderr.count(RUN_LINE) == 1, result.stderr
    lines = _rows(result.stdout)
    assert "pipff-alpha==1.0 yes pipff-alpha 1.0" in lines
    assert "pipff-alpha==2.0 yes pipff-alpha 2.0" in lines
    assert any(line.startswith("(all together) NO ") for line in lines), result.stdout
    assert "Each has a local copy, but together they can't be installed offline." in lines


def test_check_of_a_requirements_url_offline_is_one_line(
    venv: Venv, index: IndexServer, env: dict[str, str]
) -> None:
    url = index.url.replace("/simple/", "/requirements.txt")
    with outage("refused", index):
        result = venv.pipff("store", "check", "-r", url, env=env)
    assert result.returncode == 2, result.describe()
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("ERROR: pip-ff: can't read the requirements: "), line
    assert "requirements.txt" in line and "unreachable" in line, line
