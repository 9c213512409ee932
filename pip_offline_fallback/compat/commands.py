"""pip's commands: the hooks pip-ff places around a command, and its options."""

from __future__ import annotations

import importlib
import logging
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


def configured_cache_dir(command: Any) -> str | None:
    """pip's cache directory as the user set it, without the command line: ``PIP_CACHE_DIR``,
    pip's configuration files, else pip's default (None: switched off there).

    A tool may pass its own ``--cache-dir`` (pip-compile: ``~/.cache/pip-tools``); pip-ff's
    record stays the user's. The command's parser, asked for its defaults, applies the
    environment and the configuration files exactly as pip's own parsing did.
    """
    parser = command.parser
    try:
        # pip's own parsing loaded the configuration (files and PIP_* variables) already:
        # evaluate it again without loading it again (get_default_values() would reload it,
        # which -vvv shows and start-up pays for).
        value = parser._update_defaults(parser.defaults.copy()).get("cache_dir")
    except (Exception, SystemExit) as exc:  # pip's parser exits on a bad configuration
        logger.debug("pip-ff: pip's defaults unavailable (%r); using pip's default cache", exc)
        value = USER_CACHE_DIR
    return str(value) if value else None


def build_session(command: Any, options: Any) -> Any:
    """pip's session for ``command`` and its parsed ``options``, built as pip's commands build
    theirs (its TLS, proxies, credentials, cache and retries)."""
    return command._build_session(options)


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
        callable(getattr(_ConfigOptionParser, "_update_defaults", None)),
        "pip's option parser has no _update_defaults()",
    )
    expect(
        "config" in names_used(_ConfigOptionParser._get_ordered_configuration_items),
        "pip's option parser no longer reads its loaded configuration",
    )


PROBES: dict[str, Probe] = {
    "pip's command hooks": _command_hooks,
    "pip's options": _options,
}
