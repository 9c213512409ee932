"""``pip-ff run [options] -- COMMAND``: COMMAND with every installer pointed at this user's serve.

    pip-ff [pip-ff options] run [--idle-timeout SECONDS] [--require-token] [-v] [pip options]
        -- COMMAND [ARGS...]

The serve is found (state.py, daemon.py) or started detached, proven, and left running for the
next run: its URL stays the same run after run, so uv's cache and lock files keep it. cli.py
hands ``run`` here before it parses anything else, and this module imports no pip and no
logging: with the serve up, a run costs a few small file reads and two small requests to serve
(one before its command, one after). Every import counts here (a run must cost next to nothing
over its command): no contextlib, no signal (``_signal``), no collections (types only when
type-checking); tests/test_serve_run.py lists what run imports.
"""

from __future__ import annotations

import os
import sys

from pip_offline_fallback.serve import callerpaths, daemon, lockfiles, proving, state
from pip_offline_fallback.serve.childindex import child_environment

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Mapping, Sequence
else:  # the same functions and numbers, without the signal module's enums
    import _signal as signal

EXIT_USAGE = 2
EXIT_NOT_FOUND = 127
RUN_URL_VARIABLE = "PIPFF_RUN_URL"  # set for the command: a run inside it reuses the serve
_RUN_VALUE_OPTIONS = ("--idle-timeout",)


def main(argv: Sequence[str], at: int) -> int:
    """``argv``: pip-ff's whole command line; ``argv[at]`` is ``run``."""
    head = list(argv[: argv.index("--")]) if "--" in argv else list(argv)
    command = list(argv[len(head) + 1 :])
    pipff_args, run_args = head[:at], head[at + 1 :]
    if any(a in ("-h", "--help") for a in run_args):
        from pip_offline_fallback.serve.command import run_main

        return run_main(["--help"], None)
    if "--" not in argv:
        _error("run needs -- before the command: pip-ff run -- CMD ...")
        return EXIT_USAGE
    if not command:
        _error("run needs a command after --")
        return EXIT_USAGE
    environ = dict(os.environ)
    try:
        _check(run_args, environ)
    except ValueError as exc:
        _error(f"run: {exc}")
        return EXIT_USAGE
    where = state.directory(environ)
    # What the serve gets: its paths absolute, since it runs in its own directory (callerpaths).
    caller = os.getcwd()
    serve_env = callerpaths.environment(environ, caller)
    pipff_args = callerpaths.arguments(pipff_args, caller)
    run_args = callerpaths.arguments(run_args, caller)
    # Held from before the serve is found: another run that would replace it (other options)
    # sees this one and starts its own beside it instead (daemon.py). The hold says which
    # options this run wants (none known inside an outer run's command: see below).
    options = [*pipff_args, "run", *run_args]
    fingerprint = "" if environ.get(RUN_URL_VARIABLE) else state.fingerprint(options, serve_env)
    holding = state.hold(where, fingerprint)
    try:
        proven = _outer_serve(environ)
        if proven is not None:
            # Inside an outer run's command (tox calling a script that calls pip-ff run, say):
            # its serve, proven, and the environment as the outer run made it. Its variables
            # replaced the user's, so a fingerprint taken here would differ and replace it.
            env = environ
        else:
            fingerprint = fingerprint or state.fingerprint(options, serve_env)
            notes: list[str] = []
            try:
                proven = daemon.ensure(
                    serve_env, [*pipff_args, "serve", *run_args], fingerprint, notes
                )
            except daemon.ServeError as exc:
                _say(*notes)
                _error(str(exc))
                return EXIT_USAGE
            _say(*notes, *lockfiles.mismatches(caller, proven.url))
            env = child_environment(environ, proven.url)
            env[RUN_URL_VARIABLE] = proven.url
        if proven.where and proven.where != where:  # a serve beside the busy one: hold that
            _release(holding)
            where = proven.where
            holding = state.hold(where)
        here = caller
        locks = lockfiles.stamps(here)
        status = _child(command, env)
    finally:
        _release(holding)
    if not _answered_since(proven, where):
        return status  # nothing local since the question: no closing line, no request
    key = state.secret(where)
    verdict, after = proving.challenge(proven.port, proven.prefix, key)
    if verdict == proving.OURS and after is not None and after.pid == proven.pid:
        lines = closing(proven, after, status)
        if lines and (after.down or proven.down):
            lines += lockfiles.written_offline(here, locks)
        _say(*lines)
    return status


def _answered_since(proven: proving.Proven, where: str) -> bool:
    """Whether the serve may have answered from local sources since it was proven: its tally
    (state.ANSWERED, in this user's own directory) says so without a request. A serve that keeps
    none (an older pip-ff's) is asked."""
    if not proven.answered:
        return True
    now = state.read_private(os.path.join(proven.where or where, state.ANSWERED))
    return now is None or now.strip() != proven.answered


def _release(holding: str | None) -> None:
    if holding is not None:
        try:  # noqa: SIM105 (contextlib would cost every run its import)
            os.unlink(holding)
        except OSError:
            pass


def _check(run_args: Sequence[str], environ: Mapping[str, str]) -> None:
    """run's own options that can be wrong (the serve checks pip's when it starts)."""
    value = None
    for i, arg in enumerate(run_args):
        name, eq, given = arg.partition("=")
        if name in _RUN_VALUE_OPTIONS:
            if not eq and i + 1 >= len(run_args):
                raise ValueError(f"{name} requires a value")
            value = given if eq else run_args[i + 1]
    state.idle_timeout(value, environ)


def _outer_serve(environ: Mapping[str, str]) -> proving.Proven | None:
    """The serve of an outer ``pip-ff run`` whose command this is, when it proves to be this
    user's serve at the URL that run gave its command; else None (a new run)."""
    outer = environ.get(RUN_URL_VARIABLE)
    if not outer:
        return None
    try:
        where = state.directory(environ)
        for each in [where, *daemon.side_dirs(where)]:
            verdict, proven, _ = daemon.current(each)
            if verdict == proving.OURS and proven is not None and proven.url == outer:
                return proven
    except OSError:
        return None
    return None


def closing(before: proving.Proven, after: proving.Proven, status: int) -> list[str]:
    """run's closing line: what serve answered from local sources while the command ran."""
    counted: dict[str, dict[str, int]] = {}
    for key, n in after.counts.items():
        n -= before.counts.get(key, 0)
        kind, _, source = key.partition(":")
        if n > 0 and source != "network":
            counted.setdefault(kind, {})[source] = n
    if not after.down and "page" not in counted:
        # Files (and metadata) from the record while every route answered: each was checked
        # against the index's own page, so the command got what going direct gives; a cache,
        # not a fallback, and pip-ff install says nothing online either.
        return []
    words = after.words
    parts = []
    for kind, label in (("file", "files"), ("page", "pages")):
        by_source = counted.get(kind, {})
        if by_source:
            each = ", ".join(f"{n} from {words.get(s, s)}" for s, n in sorted(by_source.items()))
            parts.append(f"{label}: {each}")
    down = ", ".join(f"{host} ({cause})" for host, cause in sorted(after.down.items()))
    where = f"unreachable: {down}" if down else "local index data"
    verb = "finished" if status == 0 else "answered"
    return [f"pip-ff: {verb} from local sources ({where}); {'; '.join(parts)}"]


def _child(command: list[str], env: dict[str, str]) -> int:
    """Run the command; its exit status (a signal's: 128 + its number, as a shell says).

    While it runs, Ctrl-C goes to the command (same process group) and not to run. POSIX:
    ``posix_spawnp`` (``subprocess`` would cost each run its import), the signals Python
    ignores (SIGPIPE, and SIGINT here) back to their defaults in the command. ``_signal``:
    the signal module's enums would cost each run a millisecond."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if sys.platform != "win32":  # posix_spawn: no fork of this process's memory
            return _spawned(command, env)
        import subprocess

        try:
            process = subprocess.Popen(command, env=env)
        except OSError as exc:
            _error(f"can't run {command[0]}: {exc.strerror}")
            return EXIT_NOT_FOUND
        returncode = process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - returncode if returncode < 0 else returncode


def _spawned(command: list[str], env: dict[str, str]) -> int:
    if sys.platform == "win32":  # no posix_spawn or SIGPIPE there: the caller uses subprocess
        raise NotImplementedError
    defaults = [signal.SIGINT, signal.SIGPIPE]
    defaults += [getattr(signal, n) for n in ("SIGXFSZ", "SIGXFZ") if hasattr(signal, n)]
    program = command[0]
    if os.sep not in program:  # looked up on the command's own PATH, as subprocess does
        # os.get_exec_path's own way, without its import of warnings (a millisecond a run).
        path = env.get("PATH")
        for directory in (os.defpath if path is None else path).split(os.pathsep):
            candidate = os.path.join(directory, program)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                program = candidate
                break
    try:
        pid = os.posix_spawn(program, command, env, setsigdef=defaults)
    except OSError as exc:
        _error(f"can't run {command[0]}: {exc.strerror}")
        return EXIT_NOT_FOUND
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _say(*lines: str) -> None:
    for line in lines:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _error(message: str) -> None:
    _say(f"ERROR: pip-ff: {message}")
