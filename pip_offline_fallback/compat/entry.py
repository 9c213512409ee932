"""pip's command-line entry: the module its console scripts run, the two functions of it that
pip-ff wraps (``create_command``, ``parse_command``), and pip re-running itself under
``--python`` (``get_runnable_pip``).

Light on purpose: importing this module imports nothing of pip. The start-up hook calls it once
pip's CLI module is being imported (``pip --version`` too), where anything heavier would slow
down every pip run.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any, Callable

from pip_offline_fallback.compat.probing import Probe, expect, module_with, names_used

# The module pip's console scripts, ``python -m pip`` and build isolation's runner import; the
# start-up hook watches for it by this name (pip_offline_fallback.startup._CLI_MAIN, which
# can't import this module at start-up: a test keeps the two equal).
CLI_MAIN = "pip._internal.cli.main"
COMMANDS = "pip._internal.commands"
MAIN_PARSER = "pip._internal.cli.main_parser"
CREATE_COMMAND = "create_command"
PARSE_COMMAND = "parse_command"
# Set by pip in the environment of the pip it re-runs under --python: that pip re-runs no more.
RERUN_MARKER = "_PIP_RUNNING_IN_SUBPROCESS"


def _module(name: str) -> ModuleType:
    __import__(name)
    return sys.modules[name]


def pip_main() -> Callable[[list[str]], int | None]:
    """pip's ``main(args)``: what the ``pip`` console script calls."""
    main: Callable[[list[str]], int | None] = _module(CLI_MAIN).main
    return main


def create_command_owners(cli_main: ModuleType) -> list[ModuleType]:
    """The modules ``main()`` looks ``create_command`` up in: pip 23-24 bind it in the CLI
    module at import, pip 25+ import it inside ``main()`` from its own module (which ``main()``
    imports anyway)."""
    return [_module(COMMANDS), cli_main]


def parse_command_owners(cli_main: ModuleType) -> list[ModuleType]:
    """The modules ``main()`` looks ``parse_command`` up in (as for ``create_command``)."""
    return [_module(MAIN_PARSER), cli_main]


def loaded_cli_modules() -> list[ModuleType]:
    """pip's CLI modules that hold ``parse_command``, importing them (inject, with the engine
    active: the start-up hook then finds pip-ff in place)."""
    return [_module(MAIN_PARSER), _module(CLI_MAIN)]


def imported_cli_modules() -> list[ModuleType]:
    """The same modules, only those already imported (extract)."""
    return [sys.modules[name] for name in (MAIN_PARSER, CLI_MAIN) if name in sys.modules]


def _main_looks_up_what_pip_ff_wraps() -> None:
    cli_main = _module(CLI_MAIN)
    main: Any = getattr(cli_main, "main", None)
    expect(callable(main), f"{CLI_MAIN} has no main()")
    # main() itself, or the function of the module it hands over to (pip 26.3: _main()).
    names = set(names_used(main))
    for name in list(names):
        helper = getattr(cli_main, name, None)
        if callable(helper) and getattr(helper, "__module__", None) == CLI_MAIN:
            names |= names_used(helper)
    expect(
        {CREATE_COMMAND, PARSE_COMMAND} <= names,
        f"{CLI_MAIN}.main() no longer calls {CREATE_COMMAND} and {PARSE_COMMAND}",
    )
    for owner in create_command_owners(cli_main)[:1]:
        expect(
            callable(getattr(owner, CREATE_COMMAND, None)), f"{COMMANDS} has no {CREATE_COMMAND}"
        )
    for owner in parse_command_owners(cli_main)[:1]:
        parse_command = getattr(owner, PARSE_COMMAND, None)
        expect(callable(parse_command), f"{MAIN_PARSER} has no {PARSE_COMMAND}")
        # pip-ff's own guard (interpreter.py) may wrap it already: probe pip's function.
        parse_command = getattr(parse_command, "_pipff_original", parse_command)
        code = getattr(parse_command, "__code__", None)
        expect(
            code is not None and RERUN_MARKER in code.co_consts,
            f"{MAIN_PARSER}.{PARSE_COMMAND} no longer checks {RERUN_MARKER}",
        )


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


def runnable_pip_owners(*, imported: bool = False) -> list[ModuleType]:
    """The modules that hold a copy of pip's ``get_runnable_pip``; ``imported``: only those
    imported already. main_parser imports the module that defines it, and a module imported
    later copies it from there, so replacing it in these reaches every copy without importing
    build_env (~30 ms on pip 26.3) into a process that never builds."""
    owners: list[ModuleType] = []
    for name in _RUNNABLE_PIP_MODULES:
        if imported and name not in sys.modules:
            continue
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
    "pip's CLI entry": _main_looks_up_what_pip_ff_wraps,
    "pip's runner for --python": _runnable_pip,
}
