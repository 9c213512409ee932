"""pip's commands: the hooks pip-ff places around a command, its options, and pip re-running
itself (``get_runnable_pip``)."""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType
from typing import Any

from pip_offline_fallback.compat.probing import Probe, expect, first, module_with, names_used

logger = logging.getLogger(__name__)

Command: Any = first(("pip._internal.cli.base_command", "Command"))
# pip 24.1 moved the session mixin from req_command to index_command.
SessionCommandMixin: Any = first(
    ("pip._internal.cli.index_command", "SessionCommandMixin"),
    ("pip._internal.cli.req_command", "SessionCommandMixin"),
)
create_command: Any = first(("pip._internal.commands", "create_command"))
USER_CACHE_DIR: Any = first(("pip._internal.locations", "USER_CACHE_DIR"))
# pip copies file:// links (wheelhouse files) itself, without the session.
prepare: Any = importlib.import_module("pip._internal.operations.prepare")
_ConfigOptionParser: Any = first(("pip._internal.cli.parser", "ConfigOptionParser"))


def _timeout_option_default() -> Any:
    option = first(("pip._internal.cli.cmdoptions", "timeout"))
    return getattr(option, "keywords", {}).get("default")


def _pip_default_timeout() -> float:
    """pip's built-in ``--timeout`` (15 s): any other value was chosen by the user (a flag, an
    environment variable or a configuration file), and pip-ff never shortens it."""
    default = _timeout_option_default()
    return float(default if default is not None else 15)


PIP_DEFAULT_TIMEOUT = _pip_default_timeout()

# pip's self version check looks pip itself up on the index through this function (pip 23.0 to
# 26.3 at least; looked up by name when the check runs); pip-ff's report leaves those lookups out.
# Optional: on a pip without it, the report simply includes them (so no probe).
SELF_CHECK_LOOKUP = "_get_current_remote_pip_version"
self_outdated_check: Any = module_with("pip._internal.self_outdated_check", SELF_CHECK_LOOKUP)

# pip re-runs itself (under --python; build isolation too) as [python, get_runnable_pip(), ...].
# The function lives in build_env (22.3 to 26.1) or utils.misc (26.2+), and main_parser (and on
# 26.2+ build_env.installer) imported it by name: pip-ff wraps every copy it finds.
RUNNABLE_PIP = "get_runnable_pip"
_RUNNABLE_PIP_MODULES = (
    "pip._internal.utils.misc",
    "pip._internal.build_env",
    "pip._internal.build_env.installer",
    "pip._internal.cli.main_parser",
)


def runnable_pip_owners() -> list[ModuleType]:
    """The modules that hold a copy of pip's ``get_runnable_pip``."""
    owners: list[ModuleType] = []
    for name in _RUNNABLE_PIP_MODULES:
        module = module_with(name, RUNNABLE_PIP)
        if module is not None and module not in owners:
            owners.append(module)
    return owners


def zipped_pip() -> str | None:
    """The archive pip is imported from (virtualenv's ``--download`` runs pip from its wheel),
    or None when pip is a directory on disk. From an archive, pip's runner for ``--python`` is
    no file that another interpreter could start."""
    import pip

    directory = os.path.dirname(os.path.abspath(pip.__file__ or ""))
    if os.path.isdir(directory):
        return None
    archive = directory
    while archive and not os.path.isfile(archive):
        parent = os.path.dirname(archive)
        if parent == archive:
            return directory
        archive = parent
    return archive or directory


def configured_cache_dir(command: Any) -> str | None:
    """pip's cache directory as the user set it, without the command line: ``PIP_CACHE_DIR``,
    pip's configuration files, else pip's default (None: switched off there).

    A tool may pass its own ``--cache-dir`` (pip-compile: ``~/.cache/pip-tools``); pip-ff's
    record stays the user's. The command's parser, asked for its defaults, applies the
    environment and the configuration files exactly as pip's own parsing did.
    """
    try:
        value = command.parser.get_default_values().cache_dir
    except (Exception, SystemExit) as exc:  # pip's parser exits on a bad configuration
        logger.debug("pip-ff: pip's defaults unavailable (%r); using pip's default cache", exc)
        value = USER_CACHE_DIR
    return str(value) if value else None


def _parameters(function: Any) -> tuple[str, ...]:
    code = function.__code__
    return tuple(code.co_varnames[: code.co_argcount])


def _command_hooks() -> None:
    # inject wraps these three; each wrapper reads the arguments by these positions.
    expect(_parameters(Command._main)[:2] == ("self", "args"), "Command._main(self, args) changed")
    build_session = SessionCommandMixin._build_session
    expect(
        _parameters(build_session)[:2] == ("self", "options"),
        "SessionCommandMixin._build_session(self, options) changed",
    )
    expect(
        "cache_dir" in names_used(build_session),
        "SessionCommandMixin._build_session no longer reads options.cache_dir",
    )
    expect(
        _parameters(prepare.get_file_url)[:1] == ("link",),
        "operations.prepare.get_file_url(link, ...) changed",
    )


def _options() -> None:
    default = _timeout_option_default()
    expect(isinstance(default, (int, float)), "pip's --timeout option has no numeric default")
    expect(callable(create_command), "pip has no commands.create_command")
    expect(isinstance(USER_CACHE_DIR, str), "pip has no locations.USER_CACHE_DIR")
    expect(
        callable(getattr(_ConfigOptionParser, "get_default_values", None)),
        "pip's option parser has no get_default_values()",
    )


def _runnable_pip() -> None:
    owners = runnable_pip_owners()
    expect(owners, f"pip has no {RUNNABLE_PIP}")
    runner = getattr(owners[0], RUNNABLE_PIP)()
    # From an archive the runner is no file, by nature, not because pip changed: only --python
    # is unavailable there (pip itself can't re-run from it either), and reach says so then.
    expect(
        os.path.isfile(runner) or zipped_pip() is not None, f"pip's {RUNNABLE_PIP}() names no file"
    )


PROBES: dict[str, Probe] = {
    "pip's command hooks": _command_hooks,
    "pip's options": _options,
    "pip's runner for --python": _runnable_pip,
}
