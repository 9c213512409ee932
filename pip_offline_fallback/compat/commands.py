"""pip's commands: the hooks pip-ff places around a command (its options and its session:
:mod:`.options`)."""

from __future__ import annotations

import importlib
from typing import Any

from pip_offline_fallback.compat.options import Command
from pip_offline_fallback.compat.probing import Probe, expect, module_with, parameters

# pip copies file:// links (wheelhouse files) itself, without the session.
prepare: Any = importlib.import_module("pip._internal.operations.prepare")

# pip's self version check looks pip itself up on the index through this function (pip 23.0 to
# 26.3 at least; looked up by name when the check runs); pip-ff's report leaves those lookups out.
# Optional: on a pip without it, the report simply includes them (so no probe).
SELF_CHECK_LOOKUP = "_get_current_remote_pip_version"
self_outdated_check: Any = module_with("pip._internal.self_outdated_check", SELF_CHECK_LOOKUP)


def _command_hooks() -> None:
    # inject wraps these; each wrapper reads the arguments by these positions.
    expect(parameters(Command._main)[:2] == ("self", "args"), "Command._main(self, args) changed")
    expect(
        parameters(prepare.get_file_url)[:1] == ("link",),
        "operations.prepare.get_file_url(link, ...) changed",
    )


PROBES: dict[str, Probe] = {"pip's command hooks": _command_hooks}
