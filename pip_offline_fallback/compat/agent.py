"""pip's User-Agent, kept between starts of the per-user serve.

pip works out the User-Agent its session sends when the session is built (``user_agent`` in
pip's network/session.py): it runs ``lsb_release`` and ``uname`` (through its vendored
distro) and ``rustc --version``, and looks for setuptools on ``sys.path``; 0.15 to 0.35 s of
a new serve's first answer, most of it waiting for those commands. The per-user serve keeps
the answer in its state directory with a digest of everything that answer is made of or read
from (:func:`inputs`); a start whose digest is the same sends the kept one, and pip's own is
worked out once more after the start (:meth:`Kept.check`), off the first answer's way: should
it differ (a change nothing in the digest saw), the session sends pip's own from then on, and
it is kept for the next start. Linux only: elsewhere pip reads other things, and works it out
itself every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from typing import Any

from pip_offline_fallback.compat.probing import first, module_with, names_used

logger = logging.getLogger(__name__)

_session_module: Any = module_with("pip._internal.network.session", "user_agent")
# pip's own function, as pip calls it (PipSession.__init__ looks it up in its module); pip
# 26.3 keeps its answer for the process (functools.cache): _own() asks it afresh.
pip_user_agent: Any = getattr(_session_module, "user_agent", None)
# pip 26 moved them to utils.misc.
_CI_VARIABLES: Any = first(
    ("pip._internal.utils.misc", "CI_ENVIRONMENT_VARIABLES"),
    ("pip._internal.network.session", "CI_ENVIRONMENT_VARIABLES"),
)
# distro's release files in /etc (its _DISTRO_RELEASE_BASENAME_PATTERN, loosened).
_RELEASE_FILE = re.compile(r"\w+[-_](release|version)$")
_ROOT_FILES = ("/usr/lib/os-release", "/usr/share/distro-info")
_METADATA = (".dist-info", ".egg-info", ".egg")  # a distribution's metadata, by its name
# A kept User-Agent is checked this long after the start: off the first answers' way, once a
# client's first burst of requests is over.
CHECK_AFTER = 5.0
_COMMANDS = ("rustc", "lsb_release", "uname")  # what user_agent and distro run (PATH's)


def usable() -> bool:
    """Whether pip's User-Agent can be kept here: Linux, and a pip whose session asks its
    module's ``user_agent()`` with nothing else read than :func:`inputs` covers."""
    session_class = getattr(_session_module, "PipSession", None)
    return (
        sys.platform.startswith("linux")
        and callable(pip_user_agent)
        and isinstance(_CI_VARIABLES, tuple)
        and "user_agent" in names_used(getattr(session_class, "__init__", None))
        and {"distro", "libc_ver", "get_default_environment", "looks_like_ci"}
        <= names_used(pip_user_agent)
    )


def _own() -> str:
    """pip's User-Agent, worked out now."""
    return str(getattr(pip_user_agent, "__wrapped__", pip_user_agent)())


def _stamp(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def _files() -> list[str]:
    """The files whose content pip's answer depends on (their stamps stand for them)."""
    files = list(_ROOT_FILES)
    with contextlib.suppress(OSError):
        files += sorted(f"/etc/{n}" for n in os.listdir("/etc") if _RELEASE_FILE.match(n))
    for command in _COMMANDS:
        found = shutil.which(command)
        if found is not None:
            files += [found, os.path.realpath(found)]
    # rustc through rustup: the toolchain it picks (settings, overrides, updates) and a
    # rust-toolchain file in the working directory or above it.
    home = os.environ.get("RUSTUP_HOME") or os.path.expanduser("~/.rustup")
    files += [os.path.join(home, n) for n in ("settings.toml", "toolchains", "update-hashes")]
    with contextlib.suppress(OSError):
        hashes = os.path.join(home, "update-hashes")
        files += sorted(os.path.join(hashes, n) for n in os.listdir(hashes))
    here = os.getcwd()
    while True:
        files += [os.path.join(here, n) for n in ("rust-toolchain", "rust-toolchain.toml")]
        parent = os.path.dirname(here)
        if parent == here:
            return files
        here = parent


def inputs() -> dict[str, Any]:
    """Everything pip's ``user_agent()`` is made of or reads, or a stamp of it."""
    env = os.environ
    names = {*_CI_VARIABLES, "PIP_USER_AGENT_USER_DATA", "PATH", "HOME", "CARGO_HOME"}
    names |= {n for n in env if n.startswith("RUSTUP_")}
    try:
        import _ssl

        openssl = str(_ssl.OPENSSL_VERSION)
    except ImportError:
        openssl = ""
    libc: str | None = None
    system: list[str] = []
    if sys.platform != "win32":  # only Linux gets here (usable()); mypy checks Windows too
        with contextlib.suppress(OSError, ValueError):
            libc = os.confstr("CS_GNU_LIBC_VERSION")
        system = list(os.uname())
    module_file = str(getattr(_session_module, "__file__", ""))
    return {
        "pip": [module_file, _stamp(module_file)],
        "python": [sys.executable, sys.version, sys.implementation.name],
        "uname": system,
        "openssl": openssl,
        "libc": libc,
        "cwd": os.getcwd(),
        "env": {n: env.get(n) for n in sorted(names)},
        "files": {f: _stamp(f) for f in _files()},
        "setuptools": [[p, _setuptools_in(p)] for p in sys.path],
    }


def _setuptools_in(entry: str) -> list[Any]:
    """What pip's lookup of setuptools finds in one ``sys.path`` entry: its metadata
    directories (by name, and their stamps), or the entry's own stamp when it isn't a
    directory (a zip file). Not the directory's own stamp: the per-user serve's working
    directory, on ``sys.path`` with ``-m``, changes at every start."""
    where = entry or "."
    try:
        names = os.listdir(where)
    except OSError:
        return [_stamp(where)]
    found = [n for n in names if n.lower().startswith("setuptools")]
    return [[n, _stamp(os.path.join(where, n))] for n in sorted(found) if n.endswith(_METADATA)]


def digest() -> str:
    return hashlib.sha256(json.dumps(inputs(), sort_keys=True).encode()).hexdigest()


class Kept:
    """A User-Agent the session was built with: ``checked`` when pip worked it out just now."""

    def __init__(self, path: str, key: str, agent: str, *, checked: bool) -> None:
        self.path, self.key, self.agent, self.checked = path, key, agent, checked

    def check(self, session: Any) -> bool:
        """Work out pip's own User-Agent; when it isn't the kept one, ``session`` (pip's)
        sends pip's own from now on and it is kept instead. Whether it differed."""
        if self.checked:
            return False
        self.checked = True
        own = _own()
        if own == self.agent:
            return False
        session.headers["User-Agent"] = own
        self.agent = own
        _write(self.path, self.key, own)
        return True

    def check_later(self, session: Any, seconds: float = CHECK_AFTER) -> None:
        """:meth:`check` ``seconds`` from now, on a thread of its own, unless it was worked
        out just now (then there is nothing to check)."""
        if self.checked:
            return
        timer = threading.Timer(seconds, self._check_and_say, (session,))
        timer.daemon = True
        timer.start()

    def _check_and_say(self, session: Any) -> None:
        try:
            if self.check(session):
                logger.info(
                    "pip-ff serve: pip's User-Agent is not the one kept from the last start; "
                    "sending pip's own from now on"
                )
        except Exception:  # never fatal: the kept one is sent, as the start sent it
            logger.debug("pip-ff: checking pip's User-Agent failed", exc_info=True)


def _read(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            kept = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("digest") != key:
        return None
    agent = kept.get("agent")
    return agent if isinstance(agent, str) else None


def _write(path: str, key: str, agent: str) -> None:
    try:
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"digest": key, "agent": agent}, f)
        os.replace(path + ".tmp", path)
    except OSError as exc:
        logger.debug("pip-ff: can't keep pip's User-Agent in %s (%s)", path, exc)


@contextlib.contextmanager
def kept_user_agent(path: str | None) -> Iterator[Kept | None]:
    """While pip's session is built in this block, pip's ``user_agent()`` answers what
    ``path`` keeps when its digest is this one's, else pip's own (then kept in ``path``).
    None (and pip works it out as usual): no ``path``, or not :func:`usable`."""
    if path is None or _session_module is None or not usable():
        yield None
        return
    key = digest()
    agent = _read(path, key)
    kept = Kept(path, key, agent or _own(), checked=agent is None)
    if agent is None:
        _write(path, key, kept.agent)
    _session_module.user_agent = lambda: kept.agent
    try:
        yield kept
    finally:
        _session_module.user_agent = pip_user_agent
