"""pip's command base, its options, and a session built from them as pip's commands build theirs.

Apart from :mod:`.commands` because serve builds pip's session without pip's install, download
or resolver machinery: :func:`session_command` parses pip's options with a command that has
only what ``pip download`` shares with every command that builds a session (pip's general and
index options), under ``download``'s name (so pip's configuration files and ``PIP_*``
variables apply as they do to ``pip download``). Anything that command can't parse exactly
(another command's option, an abbreviated one, a bad value) is parsed by ``pip download``
itself, whose answer (its values, or its error) is then the one used.
"""

from __future__ import annotations

import logging
import optparse
from collections.abc import Sequence
from typing import Any, NoReturn

from pip_offline_fallback.compat.probing import Probe, expect, first, names_used, parameters

logger = logging.getLogger(__name__)

Command: Any = first(("pip._internal.cli.base_command", "Command"))
# pip 24.1 moved the session mixin from req_command to index_command (which stays light).
SessionCommandMixin: Any = first(
    ("pip._internal.cli.index_command", "SessionCommandMixin"),
    ("pip._internal.cli.req_command", "SessionCommandMixin"),
)
create_command: Any = first(("pip._internal.commands", "create_command"))
USER_CACHE_DIR: Any = first(("pip._internal.locations", "USER_CACHE_DIR"))
_index_group: Any = first(("pip._internal.cli.cmdoptions", "index_group"))
_make_option_group: Any = first(("pip._internal.cli.cmdoptions", "make_option_group"))
_timeout_option: Any = first(("pip._internal.cli.cmdoptions", "timeout"))
_ConfigOptionParser: Any = first(("pip._internal.cli.parser", "ConfigOptionParser"))

# The command whose options (and configuration section) serve's session follows.
SESSION_COMMAND = "download"


def _timeout_option_default() -> Any:
    return getattr(_timeout_option, "keywords", {}).get("default")


def _pip_default_timeout() -> float:
    """pip's built-in ``--timeout`` (15 s): any other value was chosen by the user (a flag, an
    environment variable or a configuration file), and pip-ff never shortens it."""
    default = _timeout_option_default()
    return float(default if default is not None else 15)


PIP_DEFAULT_TIMEOUT = _pip_default_timeout()


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


class _NotExact(Exception):
    """The session command can't parse these arguments as ``pip download`` would."""


class _SessionCommand(Command, SessionCommandMixin):
    """A command with pip's general and index options only, as pip's index commands have."""

    usage = "%prog [options]"

    def add_options(self) -> None:
        group = _make_option_group(_index_group, self.parser)
        self.parser.insert_option_group(0, group)


def _exact_only(parser: Any) -> None:
    """``parser`` takes long options by their whole name only (optparse takes any unique
    prefix, which with fewer options may name another option than ``pip download``'s), and
    raises :class:`_NotExact` where pip's parser would print an error and exit."""

    def match_long_opt(opt: str) -> str:
        if opt not in parser._long_opt:
            raise optparse.BadOptionError(opt)
        return opt

    def error(msg: str) -> NoReturn:
        raise _NotExact(msg)

    parser._match_long_opt = match_long_opt
    parser.error = error


def _light_command() -> Any:
    command = _SessionCommand(name=SESSION_COMMAND, summary="")
    _exact_only(command.parser)
    return command


def session_command(args: Sequence[str]) -> tuple[Any, Any]:
    """A command that builds pip's session, and ``args`` parsed as ``pip download`` parses
    them (with its configuration files and ``PIP_*`` variables): the light command when it
    parses them exactly, else ``pip download`` itself (whose parser exits on bad arguments)."""
    try:
        command = _light_command()
        options, _ = command.parse_args(list(args))
        return command, options
    except _NotExact as exc:
        logger.debug("pip-ff: parsing pip's options as pip download does (%s)", exc)
    command = create_command(SESSION_COMMAND)
    options, _ = command.parse_args(list(args))
    return command, options


def _session_hook() -> None:
    # inject wraps _build_session; its wrapper reads the arguments by these positions.
    build = SessionCommandMixin._build_session
    expect(
        parameters(build)[:2] == ("self", "options"),
        "SessionCommandMixin._build_session(self, options) changed",
    )
    expect(
        "cache_dir" in names_used(build),
        "SessionCommandMixin._build_session no longer reads options.cache_dir",
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


def _session_options() -> None:
    # The light command parses pip's own options for a session, and refuses the rest.
    command = _light_command()
    options, _ = command.parse_args(["--no-input", "--timeout", "7", "-i", "https://i.invalid/"])
    expect(
        options.no_input and options.timeout == 7 and options.index_url == "https://i.invalid/",
        "pip's general and index options no longer parse",
    )
    for refused in (["--no-deps"], ["--index"]):  # download's own; an abbreviation
        try:
            command.parse_args(refused)
        except _NotExact:
            continue
        raise AssertionError(f"pip's option parser took {refused[0]} past pip-ff's check")


PROBES: dict[str, Probe] = {
    "pip's session hook": _session_hook,
    "pip's options": _options,
    "pip's session options": _session_options,
}
