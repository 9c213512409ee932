"""A new user's first hour (issue 15) and secrets in what pip-ff prints (issue 13, item 8).

Each test drives the real pip-ff in a venv, as a user would.
"""

from __future__ import annotations

import re

from pip_offline_fallback import cli
from tests.testbed import Venv

PIPFF_OPTIONS = (
    "--offline",
    "--prefer-offline",
    "--no-fallback",
    "--wheelhouse",
    "--connect-timeout",
    "--fallback-index-url",
    "--fallback-report",
    "--max-stale",
)


def _section(stdout: str) -> str:
    """pip-ff's part of a help text: after pip's own help, never before it."""
    assert "Usage:" in stdout, stdout  # pip's help comes first
    start = stdout.index("pip-ff options")
    assert stdout.index("Usage:") < start
    return stdout[start:]


# -- issue 15 item 2: pip-ff's own options can be found ------------------------------------------


def test_help_names_exactly_the_options_the_command_line_accepts() -> None:
    named = set(re.findall(r"^\s+(--[a-z-]+)", cli.HELP, re.MULTILINE))
    assert named == set(PIPFF_OPTIONS)
    for option in named:  # each really is one of pip-ff's options: taken out of pip's arguments
        value = [] if option in ("--offline", "--prefer-offline", "--no-fallback") else ["30"]
        if option == "--fallback-index-url":
            value = ["http://mirror.invalid/simple/"]
        _, rest = cli.split_args([option, *value, "list"])
        assert rest == ["list"], option


def test_help_shows_pips_help_then_pip_ffs_options(venv: Venv, env: dict[str, str]) -> None:
    for argv in (["--help"], ["-h"], ["install", "--help"], ["help", "install"], ["list", "-h"]):
        result = venv.pipff(*argv, env=env)
        assert result.returncode == 0, result.describe()
        section = _section(result.stdout)
        for option in PIPFF_OPTIONS:
            lines = [line for line in section.splitlines() if line.split()[:1] == [option]]
            assert len(lines) == 1, (argv, option, section)
        assert re.search(r"^\s+store\s", section, re.MULTILINE), section
        assert "pip-ff help store" in section


def test_help_store_is_the_store_commands_help(venv: Venv, env: dict[str, str]) -> None:
    result = venv.pipff("help", "store", env=env)
    assert result.returncode == 0, result.describe()
    assert result.stdout.startswith("usage: pip-ff store")
    assert "unknown command" not in result.output
    # Other commands pip does not know stay pip's error, without pip-ff's section.
    unknown = venv.pipff("help", "nosuchcommand", env=env)
    assert unknown.returncode != 0
    assert 'unknown command "nosuchcommand"' in unknown.output
    assert "pip-ff options" not in unknown.output
