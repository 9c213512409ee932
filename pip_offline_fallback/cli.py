"""``pip-ff ARGS``: pip's own command line, run in-process, with the fallback hooked in.

pip-ff's options may stand before or after the subcommand; they are taken out before pip parses
the rest, so pip sees exactly what a plain ``pip ARGS`` would.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType

from pip_offline_fallback import childenv, stackroom
from pip_offline_fallback.config import (
    MAX_STALE_VARIABLE,
    MODE_VARIABLE,
    Mode,
    Settings,
    expand_path,
    parse_duration_seconds,
    parse_mode,
    settings_from_environ,
    without_credentials,
)
from pip_offline_fallback.errors import EXIT_INTERRUPTED, UsageError
from pip_offline_fallback.launch import VALUE_FLAGS, run_position, version

logger = logging.getLogger(__name__)

EXIT_USAGE = 2

_MODE_FLAGS = {
    "--offline": Mode.OFFLINE,
    "--prefer-offline": Mode.PREFER_OFFLINE,
    "--no-fallback": Mode.OFF,
}
_STRICT_FLAG = "--strict-outage"
_VALUE_FLAGS = VALUE_FLAGS

# Shown after pip's own help (``pip-ff --help``, ``pip-ff help``, ``pip-ff CMD --help``): pip's
# help can't know these, and they are what a user looks for first. One line each.
HELP = """
pip-ff options (before or after the command; taken out before pip sees the command line):
  --offline                 never open a connection; use local sources only
  --prefer-offline          local index data and files first; the network only for what is missing
  --no-fallback             run exactly plain pip
  --wheelhouse DIR          a directory of wheels and sdists used during a fallback (repeatable)
  --connect-timeout SECS    connect deadline while a local answer exists (default 2)
  --fallback-index-url [PRIMARY=]URL
                            a mirror of --index-url (or of PRIMARY), asked while it is
                            unreachable (repeatable)
  --fallback-report FILE    write pip-ff's JSON report of the run
  --max-stale DURATION      refuse local index data older than this (90s, 30m, 12h, 7d)
  --strict-outage           fall back only when the index can't be reached at all (DNS,
                            refused, no route, connect timeout); 5xx, 429 and TLS
                            failures fail as in pip

pip-ff commands:
"""
_HELP_FLAGS = ("-h", "--help")


def _store_command(args: list[str], settings: Settings | None) -> int:
    from pip_offline_fallback import storecmd

    # store check runs pip-ff's own install in this process: it is handed this main() rather
    # than importing this module (which imports it).
    return storecmd.main(args, run_pip=main)


def _serve_command(args: list[str], settings: Settings | None) -> int:
    from pip_offline_fallback.serve import command

    return command.serve_main(args, settings)


def _run_with_serve(args: list[str], settings: Settings | None) -> int:
    from pip_offline_fallback.serve import command

    return command.run_main(args, settings)


# pip-ff's own commands (pip has none of these names): name -> (runner, one line of help).
# Each is imported only when it runs: pip's own commands never import serve's server library.
COMMANDS: dict[str, tuple[Callable[[list[str], Settings | None], int], str]] = {
    "store": (_store_command, "inspect, check and prune pip-ff's record (pip-ff help store)"),
    "serve": (_serve_command, "a local index for uv, pip, pdm, poetry... (pip-ff help serve)"),
    "run": (_run_with_serve, "run -- COMMAND with a serve, installers pointed at it"),
}
HELP += "".join(f"  {name:<26}{text}\n" for name, (_, text) in COMMANDS.items())


@dataclasses.dataclass
class Options:
    mode: Mode | None = None
    wheelhouses: list[str] = dataclasses.field(default_factory=list)
    connect_timeout: float | None = None
    report: str | None = None
    max_stale: float | None = None
    fallback_index_urls: list[str] = dataclasses.field(default_factory=list)
    strict: bool = False


def split_args(argv: Sequence[str]) -> tuple[Options, list[str]]:
    """Take pip-ff's own options out of ``argv``; the rest is pip's, untouched and in order."""
    options = Options()
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            rest.extend(args[i - 1 :])
            break
        name, eq, value = arg.partition("=")
        if name in _MODE_FLAGS:
            if eq:
                raise UsageError(f"{name} takes no value")
            mode = _MODE_FLAGS[name]
            if options.mode is not None and options.mode is not mode:
                raise UsageError(f"{name} conflicts with an earlier mode option")
            options.mode = mode
        elif name == _STRICT_FLAG:
            if eq:
                raise UsageError(f"{name} takes no value")
            options.strict = True
        elif name in _VALUE_FLAGS:
            if not eq:
                if i >= len(args) or args[i].startswith("-"):
                    raise UsageError(f"{name} requires an argument")
                value = args[i]
                i += 1
            if not value:
                raise UsageError(f"{name} requires a non-empty argument")
            if name == "--wheelhouse":
                options.wheelhouses.append(expand_path(value))
            elif name == "--fallback-report":
                options.report = expand_path(value)
            elif name == "--fallback-index-url":
                if not re.fullmatch(r"https?://\S+", value):
                    raise UsageError(
                        f"{name} must be an http:// or https:// URL (or PRIMARY_URL=MIRROR_URL), "
                        f"not {without_credentials(value)!r}"
                    )
                options.fallback_index_urls.append(value)
            elif name == "--max-stale":
                options.max_stale = parse_duration_seconds(value, name)
            else:
                options.connect_timeout = parse_duration_seconds(value, name)
        else:
            rest.append(arg)
    return options, rest


def _check_wheelhouse(path: str) -> None:
    """A ``--wheelhouse`` must be a directory: a typo would silently serve nothing."""
    if not os.path.exists(path):
        raise UsageError(f"--wheelhouse {path}: no such directory; create it or fix the path")
    if not os.path.isdir(path):
        raise UsageError(f"--wheelhouse {path}: not a directory; give the directory of wheels")


def resolve(options: Options, environ: dict[str, str]) -> Settings | None:
    """The settings of this run: flags win over ``PIPFF_*``; ``PIPFF=0`` switches pip-ff off
    unless a mode flag says otherwise (``--offline`` must never open a connection)."""
    for path in options.wheelhouses:
        _check_wheelhouse(path)
    raw = environ.get(MODE_VARIABLE, "")
    if options.mode is None and raw.strip() and parse_mode(raw) is Mode.OFF:
        return None  # the kill switch, for pip-ff too
    if options.mode is Mode.OFF:
        return None
    if options.mode is not None:
        environ = dict(environ, **{MODE_VARIABLE: options.mode.value})
    elif unrecognised_mode(environ) is not None:
        # pip-ff was called by name: a value that names no mode can't switch it off; main()
        # says once that it is ignored.
        environ = {k: v for k, v in environ.items() if k != MODE_VARIABLE}
    if options.max_stale is not None:  # the flag wins: the variable isn't read at all
        environ = {k: v for k, v in environ.items() if k != MAX_STALE_VARIABLE}
    settings = settings_from_environ(environ, default=Mode.AUTO)
    if settings is None:
        return None
    if options.wheelhouses:
        settings = dataclasses.replace(
            settings, wheelhouses=(*options.wheelhouses, *settings.wheelhouses)
        )
    if options.connect_timeout is not None:
        settings = dataclasses.replace(settings, connect_timeout=options.connect_timeout)
    if options.report is not None:
        settings = dataclasses.replace(settings, report=options.report)
    if options.strict:
        settings = dataclasses.replace(settings, strict=True)
    if options.max_stale is not None:
        settings = dataclasses.replace(settings, max_stale=options.max_stale)
    if options.fallback_index_urls:
        settings = dataclasses.replace(
            settings, fallback_index_urls=tuple(options.fallback_index_urls)
        )
    return settings


def unrecognised_mode(environ: dict[str, str]) -> str | None:
    """The value of ``PIPFF`` when it is set but names no mode, else None."""
    raw = environ.get(MODE_VARIABLE, "")
    return raw if raw.strip() and parse_mode(raw) is None else None


def _asks_for_help(pip_args: Sequence[str]) -> bool:
    """Whether pip will print a help text: ``-h``/``--help``, ``help [CMD]``, or no arguments."""
    before_separator = list(pip_args[: pip_args.index("--")] if "--" in pip_args else pip_args)
    if not before_separator or any(arg in _HELP_FLAGS for arg in before_separator):
        return True
    words = [arg for arg in before_separator if not arg.startswith("-")]
    return words[:1] == ["help"]


def _help_topic(pip_args: Sequence[str]) -> str | None:
    """The command ``pip-ff help COMMAND`` asks about, if any."""
    words = [arg for arg in pip_args if not arg.startswith("-")]
    return words[1] if words[:1] == ["help"] and len(words) > 1 else None


def _inject(settings: Settings) -> None:
    """Hook pip; a pip whose internals can't even be imported gets one warning, then runs plain."""
    try:
        from pip_offline_fallback import inject
    except Exception as exc:
        logging.getLogger("pip_offline_fallback").warning(
            "pip-ff: this pip can't be hooked (%s); running plain pip without fallback", exc
        )
        return
    inject.inject(settings)


def _follow(settings: Settings) -> None:
    """pip re-runs itself under ``--python`` before it makes any command, and the child does
    the whole command: here pip-ff only guards that re-run, which carries it into the child
    (the hook, with its ~0.2 s of imports, would be made for nothing)."""
    from pip_offline_fallback import interpreter

    interpreter.guard_cli()
    if settings.report:
        childenv.report_to_child(settings.report)  # undone with the rest of main's block


def main(argv: Sequence[str] | None = None) -> int:
    """Run pip with ``argv`` (default: ``sys.argv[1:]``); return pip's exit status."""
    if argv is None:
        argv = sys.argv[1:]
    at = run_position(argv)
    if at is not None:  # the entry point (launch.py) sends runs there before importing this
        from pip_offline_fallback.serve import run

        return run.main(argv, at)
    if list(argv) in (["--version"], ["-V"]):
        return version()
    try:
        options, pip_args = split_args(argv)
        settings = resolve(options, dict(os.environ))
    except UsageError as exc:
        sys.stderr.write(f"ERROR: pip-ff: {exc}\n")
        return EXIT_USAGE
    ignored = unrecognised_mode(dict(os.environ))
    if ignored is not None and options.mode is None and settings is not None:
        # Once, here: the mode exported below replaces the value, so the start-up hook of a
        # child pip stays quiet.
        sys.stderr.write(
            f"WARNING: pip-ff: ignoring {MODE_VARIABLE}={ignored!r} (expected auto, "
            f"prefer-offline, offline or off); running in pip-ff's default mode "
            f"({settings.mode.value})\n"
        )

    # Children (build isolation's pip, store check's) run the same way while the command runs;
    # afterwards the environment is as it was, so a second in-process run starts afresh.
    with childenv.applied(settings):
        # On a stack chunk of its own: pip-ff's frames must not move pip's imports and loops
        # onto a chunk's end (see stackroom.py).
        return stackroom.call(_run_command, settings, pip_args)


def _run_command(settings: Settings | None, pip_args: list[str]) -> int:
    topic = _help_topic(pip_args)
    if topic in COMMANDS:
        pip_args = [topic, "--help"]  # pip doesn't know pip-ff's own commands
    if pip_args[:1] and pip_args[0] in COMMANDS:
        runner, _ = COMMANDS[pip_args[0]]
        return runner(pip_args[1:], settings)
    if pip_args in (["--version"], ["-V"]):  # with pip-ff's options around it
        return version()

    interrupted = False
    previous_handler = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        previous_handler = None

    following = False
    try:
        if settings is not None:
            from pip_offline_fallback import interpreter

            following = interpreter.reruns(pip_args)
            if following:
                _follow(settings)
            else:
                _inject(settings)
        from pip_offline_fallback import compat

        status = _run_pip(compat.pip_main(), pip_args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if following:
            from pip_offline_fallback import interpreter

            interpreter.unguard_cli()
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
    if interrupted:
        return EXIT_INTERRUPTED
    return int(status or 0)


def _run_pip(pip_main: Callable[[list[str]], int | None], pip_args: Sequence[str]) -> int | None:
    """pip's main; when it printed a help text, pip-ff's options follow it."""
    if not _asks_for_help(pip_args):
        return pip_main(list(pip_args))
    try:
        status = pip_main(list(pip_args))
    except SystemExit as exc:  # optparse's --help exits
        if exc.code in (None, 0):
            _write_help()
        raise
    if not status:
        _write_help()
    return status


def _write_help() -> None:
    sys.stdout.write(HELP)
    sys.stdout.flush()
