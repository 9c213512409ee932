"""What the processes pip starts inherit from pip-ff: the one module that writes ``os.environ``.

pip starts other pips (build isolation installs build dependencies with one; ``--python`` runs
the whole command in another interpreter) and hands them nothing but the command line it builds
and its own environment. pip-ff's settings, and what this run learnt (the hosts found down, the
store, pip's cache directories), reach those children only through environment variables, read
by the start-up hook there. So they are written into this process's environment while pip runs,
and only then: :func:`restore` puts back every variable as it was before pip-ff first wrote it.
:func:`applied` wraps one pip command; :func:`restore` also runs when pip-ff is taken out.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence

from pip_offline_fallback import config

# One frame per :func:`applied` block (innermost last), over a base frame for what is written
# outside any (pip run by its own console script, with the start-up hook): each maps a variable
# written in it to its value before (None: it was unset).
_frames: list[dict[str, str | None]] = [{}]
_lock = threading.Lock()


def _put(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _write(name: str, value: str | None) -> None:
    with _lock:
        frame = _frames[-1]
        if name not in frame:
            frame[name] = os.environ.get(name)
        _put(name, value)


def _undo(frame: dict[str, str | None]) -> None:
    for name, value in frame.items():
        _put(name, value)
    frame.clear()


def export_settings(settings: config.Settings) -> None:
    """Children run in the same mode, with the same options (never this run's report)."""
    for name, value in config.child_variables(settings).items():
        _write(name, value)


def hand_down(store: str | None, pip_caches: Sequence[str]) -> None:
    """The store and pip's cache directories this run uses: a child pip (build isolation) gets
    no ``--cache-dir`` of ours, and reads them as extra sources."""
    _write(config.REPORT_VARIABLE, None)  # the report is this run's, not the child's
    if store is not None:
        _write(config.STORE_VARIABLE, store)
    if pip_caches:
        _write(config.PIP_CACHES_VARIABLE, os.pathsep.join(pip_caches))


def hosts_down(hosts: Mapping[str, str]) -> None:
    """The routes found down so far (with their causes): a child doesn't wait for them again."""
    _write(config.UNREACHABLE_VARIABLE, "\n".join(f"{h} {c}" for h, c in hosts.items()))


def build_outcomes(path: str | None) -> None:
    """Where the children append what they received (see buildcount.py)."""
    from pip_offline_fallback.buildcount import VARIABLE

    _write(VARIABLE, path)


def report_to_child(path: str) -> None:
    """Under ``--python`` the child does the whole command, so the report is its to write."""
    _write(config.REPORT_VARIABLE, path)


def restore() -> None:
    """What was written outside any :func:`applied` block, back to what it was (pip-ff taken
    out of the running pip)."""
    with _lock:
        _undo(_frames[0])


@contextlib.contextmanager
def applied(settings: config.Settings | None, *, inherit_learnt: bool = True) -> Iterator[None]:
    """Within the block, children inherit ``settings`` (and what the run learns); after it, the
    environment is as it was. None: pip-ff is off; only what the block writes is undone.
    ``inherit_learnt=False``: what a parent run learnt (hosts down, its pip caches) is hidden."""
    with _lock:
        _frames.append({})
        depth = len(_frames)
    try:
        if not inherit_learnt:
            _write(config.UNREACHABLE_VARIABLE, None)
            _write(config.PIP_CACHES_VARIABLE, None)
        if settings is not None:
            export_settings(settings)
        yield
    finally:
        with _lock:
            while len(_frames) >= depth:
                _undo(_frames.pop())
