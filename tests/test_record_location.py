"""One record per user (issue 14, item 3): a tool's own ``--cache-dir`` (pip-compile passes
``--cache-dir ~/.cache/pip-tools``) doesn't move pip-ff's record away from the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import IndexServer, clone_venv, outage


@pytest.mark.parametrize("configured", ["PIP_CACHE_DIR", "pip's default"])
def test_a_tools_cache_dir_records_into_the_users_store(
    configured: str, template: Path, tmp_path: Path, index: IndexServer, env: dict[str, str]
) -> None:
    if configured == "PIP_CACHE_DIR":
        user_cache = Path(env["PIP_CACHE_DIR"])  # the user's setting: honoured
        variables = dict(env, PIPFF="1")
    else:
        # pip's default cache directory, moved into the test's own space.
        variables = {k: v for k, v in env.items() if k != "PIP_CACHE_DIR"}
        variables.update(PIPFF="1", XDG_CACHE_HOME=str(tmp_path / "xdg"))
        user_cache = tmp_path / "xdg" / "pip"
    tool_cache = tmp_path / "tool-cache"

    nothing = clone_venv(template, tmp_path / "nothing")
    nothing.pip("install", "--no-cache-dir", "-i", index.url, "pipff-gamma", env=variables).check()
    assert not (user_cache / "pip-ff").exists()  # --no-cache-dir still means no record

    online = clone_venv(template, tmp_path / "online")
    online.pip(
        "install", "--cache-dir", tool_cache, "-i", index.url, "pipff-gamma", env=variables
    ).check()
    assert (user_cache / "pip-ff" / "v1").is_dir()
    assert not (tool_cache / "pip-ff").exists()

    with outage("refused", index):
        offline = clone_venv(template, tmp_path / "offline")
        result = offline.pip("install", "-i", index.url, "pipff-gamma", env=variables)
        assert result.returncode == 0, result.output
        assert "from pip-ff's record" in result.output
        # And a tool passing its own cache directory is served from the same record.
        again = clone_venv(template, tmp_path / "again")
        result = again.pip(
            "install", "--cache-dir", tmp_path / "other-tool", "-i", index.url, "pipff-gamma",
            env=variables,
        )  # fmt: skip
        assert result.returncode == 0, result.output
