"""Find, start, prove and stop this user's per-user serve (the client side; see control.py).

``pip-ff run`` calls :func:`ensure` on every command: with the serve up it costs one read of
its state file and one question over a plain socket (proving.py), so this module imports
nothing heavy (no pip, no http.client); ``subprocess`` only when a serve must be started.
"""

from __future__ import annotations

import os
import sys
import time

from pip_offline_fallback import __version__
from pip_offline_fallback.serve import proving, state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

START_TIMEOUT = 120.0  # a cold start on a loaded CI machine; usually well under a second
STOP_TIMEOUT = 30.0
LOG_LIMIT = 1_000_000  # bytes of serve.log before a new one starts (peruser.CappedLog)
LOCK_TIMEOUT = START_TIMEOUT + STOP_TIMEOUT
# <state>/others/<fingerprint>: the serve of a run whose options differ from those of a serve
# another run's command still uses (that one is never killed under it: Gradle's rule).
OTHERS = state.OTHERS
PER_USER_FLAG = "--per-user-serve"  # launch.py: the arguments are in ARGV_VARIABLE
ARGV_VARIABLE = "PIPFF_SERVE_ARGV"


class ServeError(Exception):
    """The per-user serve can't be found or started (message: one line for the user)."""


def current(where: str) -> tuple[str, proving.Proven | None, dict[str, str] | None]:
    """What runs for ``where``'s state: (ABSENT/FOREIGN/OURS: proving.py, the proof, the state)."""
    recorded = state.read_state(where)
    key_text = state.read_private(os.path.join(where, "secret"))
    if recorded is None or not key_text:
        return proving.ABSENT, None, recorded
    port = state.number(recorded, "port")
    prefix = recorded.get("prefix", "")
    if not port:
        return proving.ABSENT, None, recorded
    try:
        key = bytes.fromhex(key_text.strip())
    except ValueError:
        return proving.ABSENT, None, recorded
    verdict, proven = proving.challenge(port, prefix, key)
    if proven is not None:
        proven.where = where
    return verdict, proven, recorded


def side_dirs(where: str) -> list[str]:
    """The state directories of the serves started beside a busy one (see :data:`OTHERS`)."""
    others = os.path.join(where, OTHERS)
    try:
        names = sorted(os.listdir(others))
    except OSError:
        return []
    return [os.path.join(others, name) for name in names]


def ensure(
    environ: Mapping[str, str], pipff_args: Sequence[str], fingerprint: str, note: list[str]
) -> proving.Proven:
    """This user's serve for ``fingerprint``, found or started; ``note`` gets the lines to show."""
    try:
        where = state.directory(environ, create=True)
    except OSError as exc:
        raise ServeError(f"can't make serve's state directory ({exc.strerror})") from None
    verdict, proven, _ = current(where)
    mine = verdict == proving.OURS and proven is not None and proven.fingerprint == fingerprint
    if mine and proven is not None and _still(where, proven):
        return proven
    from pip_offline_fallback import oslock

    try:
        with oslock.exclusive(os.path.join(where, "lock"), LOCK_TIMEOUT):
            return _ensure_locked(where, environ, pipff_args, fingerprint, note)
    except oslock.LockTimeout:
        raise ServeError(f"another pip-ff holds {where}/lock; try again") from None


def _still(where: str, proven: proving.Proven) -> bool:
    """Whether the serve proven without the lock is still the one to use: the lock is free and
    the state file still names it. The caller held the serve (run.py) before it proved it, so
    a run that takes the lock later sees that hold and never replaces the serve under it; one
    that held the lock before may have replaced it (then the state names its successor) or be
    replacing it (the lock is taken): then the caller waits for the lock and looks again."""
    from pip_offline_fallback import oslock

    try:
        with oslock.exclusive(os.path.join(where, "lock"), 0):
            recorded = state.read_state(where)
    except oslock.LockTimeout:
        return False
    return recorded is not None and state.number(recorded, "pid") == proven.pid


def _ensure_locked(
    where: str,
    environ: Mapping[str, str],
    pipff_args: Sequence[str],
    fingerprint: str,
    note: list[str],
    *,
    beside: bool = True,
) -> proving.Proven:
    state.secret(where)  # made here, under the lock, before any serve reads it
    verdict, proven, recorded = current(where)  # another run may have started it meanwhile
    if verdict == proving.OURS and proven is not None:
        if proven.fingerprint == fingerprint:
            return proven
        if beside and state.held(where, but=os.getpid(), wanting=fingerprint):
            # Another run's command uses it: never killed under that command. This run gets a
            # serve of its own options beside it, on a port kept for those options.
            side = os.path.join(where, OTHERS, fingerprint)
            try:
                os.makedirs(side, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise ServeError(f"can't make serve's state directory ({exc.strerror})") from None
            found = _ensure_beside(side, environ, pipff_args, fingerprint, note)
            note.append(
                f"pip-ff: your serve on port {proven.port} is in use by another run with other "
                f"options; this run uses a serve of its own on port {found.port}"
            )
            return found
        why = "pip-ff " + proven.version if proven.version != __version__ else "other options"
        note.append(f"pip-ff: replacing your serve on port {proven.port} ({why})")
        _end(proven, where)
    port = state.kept_port(where)
    if port:
        kept = recorded is not None and state.number(recorded, "port") == port
        prefix = recorded.get("prefix", "") if recorded is not None and kept else ""
        verdict, _ = proving.challenge(port, prefix, state.secret(where))
        if verdict == proving.OURS:  # the replaced serve did not stop
            raise ServeError(f"your serve on port {port} did not stop; see {where}/serve.log")
        if verdict == proving.FOREIGN:
            note.append(
                f"pip-ff: port {port} answers, but not as your serve (another user's serve or "
                "another program): not used; your serve moves to a port of its own (see "
                "docs/serve.md, 'A port of your own')"
            )
            port = 0
    started = _start(where, environ, pipff_args, fingerprint, port)
    if started is None and port:  # taken between the check and the bind: a new port
        note.append(f"pip-ff: port {port} is taken; your serve moves to a port of its own")
        started = _start(where, environ, pipff_args, fingerprint, 0)
    if started is None:
        raise ServeError(f"serve could not listen on a port; see {where}/serve.log")
    state.keep_port(where, started.port)
    return started


def _ensure_beside(
    side: str,
    environ: Mapping[str, str],
    pipff_args: Sequence[str],
    fingerprint: str,
    note: list[str],
) -> proving.Proven:
    """The serve in ``side``, found or started, under the lock the caller holds (a serve
    beside has its main directory's: state.lock_path). This run holds it before proving it
    (run.py keeps that hold for its command): the serve's idle stop, which waits for that lock
    and then looks at the holders (idlestop.py), never ends it between the proof and the
    command, as it could when the hold came after the lock was released."""
    holding = state.hold(side, fingerprint)
    try:
        return _ensure_locked(side, environ, pipff_args, fingerprint, note, beside=False)
    except BaseException:
        if holding is not None:
            try:  # noqa: SIM105 (run, which imports this module, imports no contextlib)
                os.unlink(holding)
            except OSError:
                pass
        raise


EXIT_CANT_LISTEN = 3  # serve's exit status when its port is taken (command.py)


def _start(
    where: str, environ: Mapping[str, str], pipff_args: Sequence[str], fingerprint: str, port: int
) -> proving.Proven | None:
    """Start a detached serve on ``port`` (0: any) and wait until it proves itself; None when
    it could not listen there."""
    import subprocess

    log_path = os.path.join(where, "serve.log")
    try:
        if os.path.getsize(log_path) > LOG_LIMIT:  # one earlier log kept, not an endless one
            os.replace(log_path, log_path + ".1")
    except OSError:
        pass
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    offset = os.lseek(log_fd, 0, os.SEEK_END)
    # Its arguments go in its environment, which only this user can read: on its command line
    # any local user would see them (ps), and an index URL may carry credentials.
    import json

    argv = [*pipff_args, "--port", str(port), "--state-dir", where, "--fingerprint", fingerprint]
    command = [sys.executable, "-m", "pip_offline_fallback", PER_USER_FLAG]
    env = dict(environ, **{ARGV_VARIABLE: json.dumps(argv)})
    detached: dict[str, object] = {}
    if sys.platform == "win32":
        detached["creationflags"] = 0x00000008 | 0x00000200  # DETACHED, NEW_PROCESS_GROUP
    else:
        detached["start_new_session"] = True  # no terminal's Ctrl-C, no CI job's group kill
    try:
        # Never the caller's stdin/stdout/stderr: a child holding them open makes
        # subprocess.run(capture_output=True), tox and CI wait for it to end.
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            # Its own directory, never the caller's: -m puts the working directory first on
            # sys.path (a pip_offline_fallback directory there would be what it imports), and a
            # serve outliving its run must not keep that directory busy. run made the paths
            # it hands on absolute (callerpaths.py).
            cwd=where,
            close_fds=True,
            **detached,  # type: ignore[call-overload]
        )
    finally:
        os.close(log_fd)
    key = state.secret(where)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        status = process.poll()
        if status is not None:
            if status == EXIT_CANT_LISTEN:
                return None
            raise ServeError(f"serve did not start: {_last_line(log_path, offset)}")
        recorded = state.read_state(where)
        if recorded is not None and state.number(recorded, "pid") == process.pid:
            bound = state.number(recorded, "port")
            prefix = recorded.get("prefix", "")
            if bound:
                verdict, proven = proving.challenge(bound, prefix, key)
                if verdict == proving.OURS and proven is not None and proven.pid == process.pid:
                    proven.where = where
                    process.returncode = 0  # detached: never waited for (no ResourceWarning)
                    return proven
        time.sleep(0.02)
    process.kill()
    raise ServeError(f"serve did not start within {START_TIMEOUT:.0f} s; see {log_path}")


def _last_line(path: str, offset: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else "no output"


def _end(proven: proving.Proven, where: str) -> bool:
    """Stop a proven serve (by the pid it proved) and wait until its port is free."""
    import contextlib
    import signal

    with contextlib.suppress(OSError):
        os.kill(proven.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    key = state.secret(where)
    while time.monotonic() < deadline:
        verdict, again = proving.challenge(proven.port, proven.prefix, key, timeout=1.0)
        if verdict != proving.OURS or again is None or again.pid != proven.pid:
            state.clear_state(where, proven.pid)
            return True
        time.sleep(0.05)
    return False


def stop(environ: Mapping[str, str]) -> str:
    """``pip-ff serve stop``: what was stopped (a line for each serve)."""
    where = state.directory(environ)
    running = []
    for each in [where, *side_dirs(where)]:
        verdict, proven, _ = current(each)
        if verdict == proving.OURS and proven is not None:
            running.append(proven)
    if not running:
        return "pip-ff serve: no per-user serve runs"
    from pip_offline_fallback import oslock

    lines = []
    with oslock.exclusive(os.path.join(where, "lock"), LOCK_TIMEOUT):
        for proven in running:
            if not _end(proven, proven.where):
                lines.append(
                    f"pip-ff serve: the serve on port {proven.port} (pid {proven.pid}) did not stop"
                )
            else:
                lines.append(
                    f"pip-ff serve: stopped the serve on port {proven.port} (pid {proven.pid})"
                )
    return "\n".join(lines)


def status(environ: Mapping[str, str]) -> tuple[bool, str]:
    """``pip-ff serve status``: (whether one runs, what to say)."""
    where = state.directory(environ)
    verdict, proven, recorded = current(where)
    if verdict == proving.OURS and proven is not None:
        started = state.number(recorded, "started") if recorded else 0
        since = f", up {int(time.time() - started)} s" if started else ""
        beside = [p for d in side_dirs(where) if (p := current(d)[1]) is not None]
        also = "".join(
            f"\npip-ff serve: also running, for other options: {p.url} (pid {p.pid})"
            for p in beside
        )
        return True, (
            f"pip-ff serve: running: {proven.url} (pid {proven.pid}, pip-ff {proven.version}"
            f"{since}; state in {where}){also}"
        )
    if verdict == proving.FOREIGN and recorded is not None:
        return False, (
            f"pip-ff serve: not running; port {recorded.get('port')} answers, but not as your serve"
        )
    return False, f"pip-ff serve: not running (state in {where})"
